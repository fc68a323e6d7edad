/**
 * Binding helpers for services: they turn the OS's bind errors into a {@linkcode ServiceStartError}
 * that names the service, the transport and the port.
 *
 * @module
 */
import { ServiceStartError } from "./service.ts";

/** What the bind helpers need: a subset of {@linkcode ServiceContext}. */
export interface BindTarget {
  hostname: string;
  port: number;
}

/**
 * Turns the OS's error binding `transport` at `at` into a {@linkcode ServiceStartError} naming
 * `service` (for services that bind through another API, such as `Deno.serve`).
 *
 * @example
 * ```ts
 * import { bindError } from "./listen.ts";
 * import assert from "node:assert/strict";
 * const err = bindError("status", "tcp", { hostname: "0.0.0.0", port: 8080 }, new Deno.errors.AddrInUse("in use"));
 * assert.equal(err.message, "status: cannot listen on tcp 0.0.0.0:8080: address already in use");
 * ```
 */
export function bindError(
  service: string,
  transport: string,
  at: BindTarget,
  err: unknown,
): Error {
  const where = `${transport} ${
    at.hostname.includes(":") ? `[${at.hostname}]` : at.hostname
  }:${at.port}`;
  if (err instanceof Deno.errors.AddrInUse) {
    return new ServiceStartError(service, `cannot listen on ${where}: address already in use`, {
      cause: err,
    });
  }
  if (err instanceof Deno.errors.PermissionDenied || err instanceof Deno.errors.NotCapable) {
    return new ServiceStartError(service, `cannot listen on ${where}: permission denied`, {
      cause: err,
    });
  }
  if (err instanceof Deno.errors.AddrNotAvailable) {
    return new ServiceStartError(service, `cannot listen on ${where}: address not available`, {
      cause: err,
    });
  }
  const msg = err instanceof Error ? err.message : String(err);
  return new ServiceStartError(service, `cannot listen on ${where}: ${msg}`, { cause: err });
}

/**
 * Opens a TCP listener or throws a {@linkcode ServiceStartError} naming `service`.
 *
 * @example
 * ```ts
 * import { listenTcp } from "./listen.ts";
 * import assert from "node:assert/strict";
 * const l = listenTcp("demo", { hostname: "127.0.0.1", port: 0 });
 * assert.ok(l.addr.port > 0); // port 0: the system picks a free port
 * l.close();
 * ```
 */
export function listenTcp(service: string, at: BindTarget): Deno.TcpListener {
  try {
    return Deno.listen({ transport: "tcp", hostname: at.hostname, port: at.port });
  } catch (err) {
    throw bindError(service, "tcp", at, err);
  }
}

/**
 * Opens a UDP socket or throws a {@linkcode ServiceStartError} naming `service`.
 *
 * @example
 * ```ts
 * import { listenUdp } from "./listen.ts";
 * import assert from "node:assert/strict";
 * const s = listenUdp("demo", { hostname: "127.0.0.1", port: 0 });
 * assert.ok((s.addr as Deno.NetAddr).port > 0);
 * s.close();
 * ```
 */
export function listenUdp(service: string, at: BindTarget): Deno.DatagramConn {
  try {
    return Deno.listenDatagram({ transport: "udp", hostname: at.hostname, port: at.port });
  } catch (err) {
    throw bindError(service, "udp", at, err);
  }
}

/**
 * Formats a listen address as `udp 0.0.0.0:9999` (IPv6 in brackets).
 *
 * @example
 * ```ts
 * import { formatListen } from "./listen.ts";
 * import assert from "node:assert/strict";
 * assert.equal(formatListen({ transport: "tcp", hostname: "::", port: 1 }), "tcp [::]:1");
 * ```
 */
export function formatListen(a: { transport: string; hostname: string; port: number }): string {
  const host = a.hostname.includes(":") ? `[${a.hostname}]` : a.hostname;
  return `${a.transport} ${host}:${a.port}`;
}
