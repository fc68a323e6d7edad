/**
 * The LSP echo server as a `bitclone node` service (UDP 9999), until the miner server takes the
 * port.
 *
 * Config file settings (`services.lsp`): `params` (any of epochLimit, epochMillis, windowSize,
 * maxBackOffInterval, maxUnackedMessages) and `maxConnections`.
 *
 * @module
 */
import type { ServiceDefinition } from "../node/mod.ts";
import { echoLoop } from "./echo.ts";
import type { LspParams } from "./params.ts";
import { listen } from "./server_deno.ts";

/** How long a stopping node lets the server drain what clients have not acknowledged. */
const DRAIN_MS = 1500;

/**
 * The node's LSP service.
 *
 * @example
 * ```ts
 * import { lspEchoService } from "./service_deno.ts";
 * import assert from "node:assert/strict";
 * assert.equal(lspEchoService.defaultPort, 9999);
 * ```
 */
export const lspEchoService: ServiceDefinition = {
  name: "lsp",
  description: "LSP echo server",
  transport: "udp",
  defaultPort: 9999,
  start(ctx) {
    const { params, maxConnections } = ctx.settings as {
      params?: Partial<LspParams>;
      maxConnections?: number;
    };
    const server = listen(ctx.port, {
      hostname: ctx.hostname,
      params,
      maxConnections,
      serviceName: "lsp",
    });
    const loop = echoLoop(server, {
      onClientDied: (id, err) =>
        ctx.log.info("connection {id} ended: {why}", { id, why: err.reason }),
      onWriteFailed: (id, err) =>
        ctx.log.warn("cannot echo to {id}: {error}", { id, error: err.message }),
    });
    ctx.signal.addEventListener("abort", () => {
      // Drain what is pending, but never past the node's stop deadline.
      const timer = setTimeout(() => server.closeNow(), DRAIN_MS);
      server.close().catch(() => {}).finally(() => {
        clearTimeout(timer);
        server.closeNow();
      });
    }, { once: true });
    const closed = (async () => {
      await loop;
      await server.done;
    })();
    return Promise.resolve({
      listening: [{ transport: "udp", hostname: ctx.hostname, port: server.port }],
      closed,
    });
  },
};
