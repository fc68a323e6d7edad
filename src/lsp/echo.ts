/**
 * The echo behaviour of the reference's echo server: every payload goes back to its sender.
 * Shared by `bitclone lsp server` and the node's LSP service.
 *
 * @module
 */
import { LspConnectionError } from "./errors.ts";
import type { LspServer } from "./server_deno.ts";

/** Hooks for {@linkcode echoLoop}'s reports. */
export interface EchoHooks {
  /** A connection ended (lost or closed); `error` is its read error. */
  onClientDied?: (connId: number, error: LspConnectionError) => void;
  /** Writing the echo failed. */
  onWriteFailed?: (connId: number, error: Error) => void;
  /** A payload was echoed. */
  onEcho?: (connId: number, payload: Uint8Array) => void;
}

/**
 * Reads from `server` and writes each payload back to its ConnID until the server is closed.
 *
 * @example
 * ```ts ignore
 * import { listen } from "./server_deno.ts";
 * import { echoLoop } from "./echo.ts";
 * await echoLoop(listen(9999), { onClientDied: (id) => console.log(`Client ${id} has died`) });
 * ```
 */
export async function echoLoop(server: LspServer, hooks: EchoHooks = {}): Promise<void> {
  for await (const item of server) {
    if (item instanceof LspConnectionError) {
      hooks.onClientDied?.(item.connId, item);
      continue;
    }
    try {
      // A `"Payload":null` goes back as null, like the reference's echo.
      server.write(item.connId, item.payloadNull ? null : item.payload);
      hooks.onEcho?.(item.connId, item.payload);
    } catch (err) {
      hooks.onWriteFailed?.(item.connId, err as Error);
    }
  }
}
