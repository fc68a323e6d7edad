/**
 * The command tree of `bitclone`.
 *
 * @module
 */
import type { CommandSpec } from "../mod.ts";
import { NODE_SERVICES } from "../../services.ts";
import { kvCommand } from "./kv.ts";
import { lrp2pCommand } from "./lrp2p.ts";
import { lspCommand } from "./lsp.ts";
import { mineCommand } from "./mine.ts";
import { nodeCommand } from "./node.ts";
import { peerCommand } from "./peer.ts";
import { statusCommand } from "./status.ts";
import { trackerCommand } from "./tracker.ts";

/**
 * Builds the root command with every subcommand.
 *
 * @example
 * ```ts
 * import { rootCommand } from "./mod.ts";
 * import assert from "node:assert/strict";
 * assert.ok(rootCommand().subcommands!.some((c) => c.name === "node"));
 * ```
 */
export function rootCommand(): CommandSpec {
  return {
    name: "bitclone",
    summary:
      "bitclone: LSP, the bitcoin miner, the BitClone peer, the CS457 tracker, the gossip key-value store and LRP2P",
    description:
      "One program that hosts the lab's network services side by side and speaks each on the " +
      "wire exactly like the original implementation.",
    subcommands: [
      nodeCommand(NODE_SERVICES),
      lspCommand,
      mineCommand,
      peerCommand,
      trackerCommand,
      kvCommand,
      lrp2pCommand,
      statusCommand,
    ],
  };
}
