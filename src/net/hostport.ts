/**
 * `host:port` text, the address form every bitclone protocol uses: IPv4 `1.2.3.4:80`, IPv6 in
 * brackets `[::1]:80` (the bare `::1:80` is accepted on input), names `lab1:80`. Pure functions,
 * safe for protocol cores.
 *
 * @module
 */

/** A parsed address. `hostname` never has brackets. */
export interface HostPort {
  hostname: string;
  port: number;
}

/**
 * Parses `host:port`, `[v6]:port` or a bare IPv6 `v6:port`; returns `undefined` on anything else
 * (a port outside 0..65535 included). Never throws.
 *
 * @example
 * ```ts
 * import { parseHostPort } from "./hostport.ts";
 * console.assert(parseHostPort("[::1]:9999")?.hostname === "::1");
 * console.assert(parseHostPort("nonsense") === undefined);
 * ```
 */
export function parseHostPort(text: string): HostPort | undefined {
  if (typeof text !== "string" || text.length > 300) return undefined;
  const m = /^\[([0-9A-Fa-f:.]+(?:%[\w.-]+)?)\]:(\d{1,5})$/.exec(text) ??
    /^([^\s\[\]\/]+):(\d{1,5})$/.exec(text);
  if (!m) return undefined;
  const port = Number(m[2]);
  if (port > 65535) return undefined;
  const hostname = m[1];
  if (hostname.includes(":") && !/^[0-9A-Fa-f:.]+(%[\w.-]+)?$/.test(hostname)) return undefined;
  return { hostname, port };
}

/**
 * Formats an address, bracketing IPv6.
 *
 * @example
 * ```ts
 * import { formatHostPort } from "./hostport.ts";
 * console.assert(formatHostPort("::1", 80) === "[::1]:80");
 * console.assert(formatHostPort("10.0.0.1", 80) === "10.0.0.1:80");
 * ```
 */
export function formatHostPort(hostname: string, port: number): string {
  return hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
}
