/**
 * Name resolution for adapters: turns `host:port` into `ip:port`, so that a core keyed on the
 * sender's address recognises the replies (they come from the IP, not the name).
 *
 * @module
 */
import { formatHostPort, parseHostPort } from "./hostport.ts";

const LOCAL_NAMES = new Set(["localhost", "localhost.localdomain", "ip6-localhost"]);

function isIpLiteral(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(":");
}

/**
 * Resolves the host part of `host:port` to an IP address (IPv4 first). `localhost` is
 * `127.0.0.1` without asking DNS. Throws `TypeError` on malformed text and `Deno.errors.NotFound`
 * when the name has no address.
 *
 * @example
 * ```ts
 * import { resolveHostPort } from "./resolve.ts";
 * import assert from "node:assert/strict";
 * assert.equal((await resolveHostPort("localhost:9999")), "127.0.0.1:9999");
 * ```
 */
export async function resolveHostPort(text: string): Promise<string> {
  const hp = parseHostPort(text);
  if (!hp) throw new TypeError(`Cannot resolve '${text}': not HOST:PORT`);
  if (isIpLiteral(hp.hostname)) return formatHostPort(hp.hostname, hp.port);
  if (LOCAL_NAMES.has(hp.hostname.toLowerCase())) return formatHostPort("127.0.0.1", hp.port);
  for (const type of ["A", "AAAA"] as const) {
    try {
      const found = await Deno.resolveDns(hp.hostname, type);
      if (found.length) return formatHostPort(found[0], hp.port);
    } catch {
      // try the next record type
    }
  }
  throw new Deno.errors.NotFound(`Cannot resolve '${hp.hostname}': no address`);
}

/**
 * Turns a `host:port` string into the `Deno.NetAddr` a UDP socket sends to.
 *
 * @example
 * ```ts
 * import { toNetAddr } from "./resolve.ts";
 * import assert from "node:assert/strict";
 * assert.equal(toNetAddr("[::1]:5").hostname, "::1");
 * ```
 */
export function toNetAddr(text: string): Deno.NetAddr {
  const hp = parseHostPort(text);
  if (!hp) throw new TypeError(`Cannot send to '${text}': not HOST:PORT`);
  return { transport: "udp", hostname: hp.hostname, port: hp.port };
}

/**
 * The `host:port` key of a socket address (IPv6 bracketed, IPv4-mapped IPv6 unwrapped).
 *
 * @example
 * ```ts
 * import { addrKey } from "./resolve.ts";
 * import assert from "node:assert/strict";
 * assert.equal(addrKey({ transport: "udp", hostname: "::ffff:10.0.0.1", port: 9 }), "10.0.0.1:9");
 * ```
 */
export function addrKey(addr: Deno.Addr): string {
  const a = addr as Deno.NetAddr;
  const host = a.hostname.startsWith("::ffff:") && a.hostname.includes(".")
    ? a.hostname.slice(7)
    : a.hostname;
  return formatHostPort(host, a.port);
}
