/**
 * The LRP2P file receiver as a `bitclone node` service (UDP 7946, `--lrp2p-port`): what
 * `bitclone lrp2p recv` does, for `bitclone lrp2p send`. Off unless the config file enables it:
 *
 * ```json
 * { "services": { "lrp2p": { "enabled": true, "outDir": "inbox", "allow": ["<64 hex>"] } } }
 * ```
 *
 * Settings (`services.lrp2p`), all optional:
 * - `outDir`: where received files go (default `<data dir>/lrp2p-inbox`, created if missing),
 * - `keyFile`: the node's key file (default `<data dir>/lrp2p.key`, created if missing),
 * - `allow`: public keys (64 hex digits) of the only senders accepted (default: any),
 * - `maxBytes`: refuse larger files, `overwrite`: replace existing files (default false).
 *
 * @module
 */
import { type ServiceDefinition, ServiceSettingsError, ServiceStartError } from "../node/mod.ts";
import { fingerprint, parseHexKey, toHex } from "./keys.ts";
import { loadOrCreateKey } from "./keys_deno.ts";
import { socketListen } from "./socket_deno.ts";
import { serveFiles } from "./transfer_deno.ts";

/** The service's UDP port. */
export const LRP2P_DEFAULT_PORT = 7946;

function check(s: Readonly<Record<string, unknown>>): void {
  const { outDir, keyFile, allow, maxBytes, overwrite } = s;
  if (outDir !== undefined && (typeof outDir !== "string" || outDir === "")) {
    throw new ServiceSettingsError("lrp2p", "outDir", "a directory path");
  }
  if (keyFile !== undefined && (typeof keyFile !== "string" || keyFile === "")) {
    throw new ServiceSettingsError("lrp2p", "keyFile", "a file path");
  }
  if (
    allow !== undefined &&
    (!Array.isArray(allow) || !allow.every((k) => typeof k === "string" && parseHexKey(k)))
  ) {
    throw new ServiceSettingsError("lrp2p", "allow", "a list of public keys (64 hex digits)");
  }
  if (maxBytes !== undefined && (!Number.isSafeInteger(maxBytes) || (maxBytes as number) < 0)) {
    throw new ServiceSettingsError("lrp2p", "maxBytes", "a whole number of bytes");
  }
  if (overwrite !== undefined && typeof overwrite !== "boolean") {
    throw new ServiceSettingsError("lrp2p", "overwrite", "true or false");
  }
}

/**
 * The node's LRP2P file receiver.
 *
 * @example
 * ```ts
 * import { lrp2pService } from "./service_deno.ts";
 * import assert from "node:assert/strict";
 * assert.equal(lrp2pService.defaultPort, 7946);
 * assert.equal(lrp2pService.enabledByDefault, false);
 * ```
 */
export const lrp2pService: ServiceDefinition = {
  name: "lrp2p",
  description: "LRP2P file receiver (off unless enabled in the config)",
  transport: "udp",
  defaultPort: LRP2P_DEFAULT_PORT,
  enabledByDefault: false,
  checkSettings: check,
  async start(ctx) {
    const s = ctx.settings;
    check(s);
    const outDir = (s.outDir as string | undefined) ?? `${ctx.dataDir}/lrp2p-inbox`;
    const keyFile = (s.keyFile as string | undefined) ?? `${ctx.dataDir}/lrp2p.key`;
    const allow = new Set(((s.allow as string[] | undefined) ?? []).map((k) => k.toLowerCase()));
    let socket;
    try {
      await Deno.mkdir(outDir, { recursive: true });
      const { keyPair, created } = await loadOrCreateKey(keyFile);
      if (created) ctx.log.info("created key file {file}", { file: keyFile });
      socket = await socketListen(ctx.hostname, ctx.port, {
        staticKey: keyPair,
        verifyRemote: allow.size === 0 ? undefined : (k) => {
          const ok = allow.has(toHex(k));
          if (!ok) ctx.log.warn("refused a sender with key {key}", { key: toHex(k) });
          return ok;
        },
      });
    } catch (err) {
      throw new ServiceStartError("lrp2p", (err as Error).message, { cause: err });
    }
    ctx.log.info("key {key} ({fp}), saving into {dir}", {
      key: toHex(socket.publicKey),
      fp: fingerprint(socket.publicKey),
      dir: outDir,
    });
    const stop = new AbortController();
    ctx.signal.addEventListener("abort", () => stop.abort(), { once: true });
    const closed = (async () => {
      try {
        await serveFiles(socket, outDir, {
          overwrite: s.overwrite === true,
          maxBytes: s.maxBytes as number | undefined,
          signal: stop.signal,
          onEvent(e) {
            if (e.type === "offer") {
              ctx.log.info("receiving {name} ({size} bytes) from {remote}", {
                name: e.offer.name,
                size: e.offer.size,
                remote: e.conn.remoteAddr,
              });
            } else if (e.type === "saved") {
              ctx.log.info("saved {path} ({size} bytes), SHA-256 verified", {
                path: e.result.path!,
                size: e.result.bytes,
              });
            } else if (e.type === "failed") {
              ctx.log.warn("transfer from {remote} failed: {error}", {
                remote: e.conn.remoteAddr,
                error: e.error.message,
              });
            }
          },
        });
      } finally {
        // (a shorter linger: the node gives each service 2 s to stop)
        await socket.close({ lingerMs: 1000 });
      }
    })();
    return {
      listening: [{ transport: "udp", hostname: ctx.hostname, port: socket.addr.port }],
      closed,
    };
  },
};
