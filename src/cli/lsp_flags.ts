/**
 * The LSP parameter flags shared by every command that speaks LSP (`lsp server|client`,
 * `mine server|miner|client`), named as the Go reference's echo tools name them.
 *
 * @module
 */
import { intValue } from "./args.ts";
import { type CommandContext, type OptionSpec, UsageError } from "./command.ts";
import { type LspParams, lspParams } from "../lsp/mod.ts";

/**
 * `-elim`, `-ems`, `-wsize`, `-maxUnackMessages`, `-maxbackoff`, with the reference defaults.
 *
 * @example
 * ```ts
 * import { LSP_PARAM_FLAGS } from "./lsp_flags.ts";
 * import assert from "node:assert/strict";
 * assert.equal(LSP_PARAM_FLAGS.ems.default, "2000");
 * ```
 */
export const LSP_PARAM_FLAGS: Record<string, OptionSpec> = {
  elim: { type: "string", valueName: "N", default: "5", description: "LSP EpochLimit" },
  ems: { type: "string", valueName: "MS", default: "2000", description: "LSP EpochMillis" },
  wsize: { type: "string", valueName: "N", default: "1", description: "LSP WindowSize" },
  maxUnackMessages: {
    type: "string",
    valueName: "N",
    default: "1",
    description: "LSP MaxUnackedMessages",
  },
  maxbackoff: {
    type: "string",
    valueName: "N",
    default: "0",
    description: "LSP MaxBackOffInterval",
  },
};

/**
 * Reads the LSP parameters from the flags of {@linkcode LSP_PARAM_FLAGS}; a bad value is a
 * {@linkcode UsageError} (exit 2).
 *
 * @example
 * ```ts
 * import { lspParamsFromFlags } from "./lsp_flags.ts";
 * import { type CommandContext, UsageError } from "./command.ts";
 * import assert from "node:assert/strict";
 * const values = { elim: "5", ems: "500", wsize: "1", maxUnackMessages: "1", maxbackoff: "0" };
 * const ctx = (v: object) => ({ values: v }) as unknown as CommandContext;
 * assert.equal(lspParamsFromFlags(ctx(values), "bitclone lsp server").epochMillis, 500);
 * assert.throws(() => lspParamsFromFlags(ctx({ ...values, wsize: "0" }), "bitclone lsp server"), UsageError);
 * ```
 */
export function lspParamsFromFlags(ctx: CommandContext, path: string): LspParams {
  const n = (name: string) =>
    intValue(ctx.values[name] as string, `-${name}`, path, { min: -1e15 });
  try {
    return lspParams({
      epochLimit: n("elim"),
      epochMillis: n("ems"),
      windowSize: n("wsize"),
      maxUnackedMessages: n("maxUnackMessages"),
      maxBackOffInterval: n("maxbackoff"),
    });
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError((err as Error).message.replace(/^Cannot use LSP params: /, ""), path);
  }
}
