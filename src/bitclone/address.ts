/**
 * BitClone peer addresses (`ip:port`, spec §A.4): a lenient parser, the one canonical text form,
 * the scope table (loopback / private / public / unusable) and the network group used by the
 * address book (§C.7). Only IP literals: host names are never accepted here.
 *
 * Accepted spellings, in the spec's order: surrounding white space and one pair of parentheses are
 * stripped; `[v6]:port` or `[v6],port`; otherwise `host,port` split at the last comma (the
 * assignment prints `(x.x.x.x,y)`); otherwise split at the last colon, which also reads bare IPv6
 * (`2001:db8::7:4000` is host `2001:db8::7`, port 4000). IPv4 is a dotted quad without leading
 * zeros; IPv6 has no zone index; `::ffff:a.b.c.d` is unmapped to IPv4. Ports are 1–65535.
 *
 * Emitted: IPv4 `192.0.2.10:4000`; IPv6 in RFC 5952 canonical form inside brackets
 * `[2001:db8::7]:4000`.
 *
 * @module
 */

/**
 * A parsed peer address. `ip` is canonical (dotted quad, or RFC 5952 IPv6 without brackets), so
 * two addresses are the same peer exactly when `ip` and `port` are equal.
 */
export interface PeerAddress {
  /** Canonical IP text, without brackets. */
  readonly ip: string;
  /** Whether `ip` is IPv6. */
  readonly v6: boolean;
  /** TCP port, 1–65535. */
  readonly port: number;
}

/**
 * Where an address may be stored and sent (spec §A.4 scope table):
 * - `loopback`: `127.0.0.0/8`, `::1` — kept from the command line, the saved file or a peer
 *   connected over loopback, and sent to loopback peers only;
 * - `private`: `10/8`, `172.16/12`, `192.168/16`, `100.64/10`, `fc00::/7`;
 * - `public`: everything else that is usable;
 * - `unusable`: `0.0.0.0`, `::`, multicast, `255.255.255.255`, IPv6 link-local — never stored or
 *   sent (the entry is dropped without penalty).
 */
export type AddressScope = "loopback" | "private" | "public" | "unusable";

/** The longest address text the parser looks at (a bracketed IPv6 with port is at most 55). */
const MAX_ADDRESS_TEXT = 128;

/**
 * A parsed IP literal: canonical text plus its bytes (4 for IPv4, 16 for IPv6).
 *
 * @example Parsing an IP
 * ```ts
 * import { parseIp } from "./address.ts";
 * import assert from "node:assert/strict";
 * const ip = parseIp("::FFFF:192.0.2.5");
 * assert.ok(ip?.text === "192.0.2.5");
 * assert.equal(ip.bytes.length, 4);
 * ```
 */
export interface IpAddress {
  /** Canonical text (IPv4-mapped IPv6 is unmapped to IPv4). */
  readonly text: string;
  /** Whether the address is IPv6. */
  readonly v6: boolean;
  /** Network-order bytes: 4 for IPv4, 16 for IPv6. */
  readonly bytes: Uint8Array;
}

/**
 * Parses an IP literal: a dotted quad without leading zeros, or IPv6 (any letter case, `::`
 * compression, an embedded IPv4 tail) without a zone index. `::ffff:a.b.c.d` becomes IPv4.
 * Never throws.
 *
 * @param text The IP text, without brackets or port.
 * @returns The canonical address, or `undefined` when `text` is not an IP literal.
 * @example IPv6 canonical form
 * ```ts
 * import { parseIp } from "./address.ts";
 * import assert from "node:assert/strict";
 * assert.equal(parseIp("2001:0DB8:0:0:0:0:0:1")?.text, "2001:db8::1");
 * assert.equal(parseIp("localhost"), undefined);
 * ```
 */
export function parseIp(text: string): IpAddress | undefined {
  if (typeof text !== "string" || text.length === 0 || text.length > MAX_ADDRESS_TEXT) {
    return undefined;
  }
  if (!text.includes(":")) {
    const v4 = parseIpv4(text);
    // A dotted quad without leading zeros is already canonical.
    return v4 === undefined ? undefined : { text, v6: false, bytes: v4 };
  }
  const v6 = parseIpv6(text);
  if (v6 === undefined) return undefined;
  if (isMappedIpv4(v6)) {
    const v4 = v6.slice(12);
    return { text: formatIpv4(v4), v6: false, bytes: v4 };
  }
  return { text: formatIpv6(v6), v6: true, bytes: v6 };
}

/**
 * Parses a peer address in any spelling of spec §A.4 (see the module doc). Never throws. The
 * result may still be `unusable` as a peer ({@linkcode addressScope}); a port of 0 or above 65535,
 * a missing port, a host name or a malformed IP give `undefined`.
 *
 * @param text The address as received (surrounding spaces or tabs are allowed).
 * @returns The address with a canonical IP, or `undefined`.
 * @example The spellings of spec §E.5
 * ```ts
 * import { formatPeerAddress, parsePeerAddress } from "./address.ts";
 * import assert from "node:assert/strict";
 * const canon = (t: string) => {
 *   const a = parsePeerAddress(t);
 *   return a === undefined ? undefined : formatPeerAddress(a);
 * };
 * assert.equal(canon("(192.0.2.10,8090)"), "192.0.2.10:8090");
 * assert.equal(canon("2001:db8::1:8333"), "[2001:db8::1]:8333");
 * assert.equal(canon("::ffff:127.0.0.1:3000"), "127.0.0.1:3000");
 * assert.equal(canon("192.0.2.10"), undefined);
 * ```
 */
export function parsePeerAddress(text: string): PeerAddress | undefined {
  if (typeof text !== "string" || text.length > MAX_ADDRESS_TEXT) return undefined;
  let s = text.trim();
  if (s.startsWith("(") && s.endsWith(")")) s = s.slice(1, -1).trim();
  let host: string, portText: string;
  if (s.startsWith("[")) {
    const close = s.indexOf("]");
    if (close < 0 || (s[close + 1] !== ":" && s[close + 1] !== ",")) return undefined;
    host = s.slice(1, close);
    portText = s.slice(close + 2);
  } else {
    const cut = s.includes(",") ? s.lastIndexOf(",") : s.lastIndexOf(":");
    if (cut <= 0) return undefined;
    host = s.slice(0, cut);
    portText = s.slice(cut + 1);
  }
  portText = portText.trim();
  if (!/^\d{1,5}$/.test(portText)) return undefined;
  const port = Number(portText);
  if (port < 1 || port > 65535) return undefined;
  host = host.trim();
  // The common case, without allocating bytes: a dotted quad is its own canonical text.
  if (!host.includes(":")) return ipv4Number(host) < 0 ? undefined : { ip: host, v6: false, port };
  const ip = parseIp(host);
  if (ip === undefined) return undefined;
  return { ip: ip.text, v6: ip.v6, port };
}

/**
 * Formats a peer address canonically: `a.b.c.d:port` or `[v6]:port`.
 *
 * @param address A parsed address (its `ip` is taken as canonical).
 * @returns The wire text.
 * @example Both families
 * ```ts
 * import { formatPeerAddress } from "./address.ts";
 * import assert from "node:assert/strict";
 * assert.equal(formatPeerAddress({ ip: "::1", v6: true, port: 80 }), "[::1]:80");
 * assert.equal(formatPeerAddress({ ip: "192.0.2.1", v6: false, port: 80 }), "192.0.2.1:80");
 * ```
 */
export function formatPeerAddress(address: PeerAddress): string {
  return address.v6 ? `[${address.ip}]:${address.port}` : `${address.ip}:${address.port}`;
}

/**
 * Whether two addresses name the same peer (same canonical IP and port).
 *
 * @example Same peer
 * ```ts
 * import { parsePeerAddress, samePeerAddress } from "./address.ts";
 * import assert from "node:assert/strict";
 * const a = parsePeerAddress("[2001:DB8::1]:80")!, b = parsePeerAddress("2001:db8:0::1:80")!;
 * assert.ok(samePeerAddress(a, b));
 * ```
 */
export function samePeerAddress(a: PeerAddress, b: PeerAddress): boolean {
  return a.ip === b.ip && a.port === b.port && a.v6 === b.v6;
}

/**
 * Classifies an address (or a bare IP) by the scope table of spec §A.4. An address that does not
 * parse as an IP is `unusable`.
 *
 * @param address A peer address, or canonical IP text.
 * @returns The scope.
 * @example Scopes
 * ```ts
 * import { addressScope } from "./address.ts";
 * import assert from "node:assert/strict";
 * assert.equal(addressScope("127.0.0.1"), "loopback");
 * assert.equal(addressScope("10.1.2.3"), "private");
 * assert.equal(addressScope({ ip: "ff02::1", v6: true, port: 3000 }), "unusable");
 * assert.equal(addressScope("198.51.100.7"), "public");
 * ```
 */
export function addressScope(address: PeerAddress | string): AddressScope {
  const text = typeof address === "string" ? address : address?.ip;
  const port = typeof address === "string" ? 1 : address?.port;
  if (typeof text === "string" && !text.includes(":")) {
    // The common case, without allocation: a dotted quad.
    const n = ipv4Number(text);
    return n < 0 || !(port >= 1 && port <= 65535) ? "unusable" : ipv4Scope(n);
  }
  const ip = parseIp(text!);
  if (ip === undefined) return "unusable";
  if (typeof address !== "string" && (address.port < 1 || address.port > 65535)) {
    return "unusable";
  }
  const b = ip.bytes;
  if (!ip.v6) return ipv4Scope(((b[0] << 24) >>> 0) + (b[1] << 16) + (b[2] << 8) + b[3]);
  if (b.every((x) => x === 0) || b[0] === 0xff || (b[0] === 0xfe && (b[1] & 0xc0) === 0x80)) {
    return "unusable";
  }
  if (b.subarray(0, 15).every((x) => x === 0) && b[15] === 1) return "loopback";
  if ((b[0] & 0xfe) === 0xfc) return "private";
  return "public";
}

/**
 * The network group of an address for the address book (spec §C.7): IPv4 → its first 16 bits
 * (`"198.51"`), IPv6 → its first 32 bits (`"2001:db8"`), loopback → `"local"`. Text that is not
 * an IP gives `"invalid"`.
 *
 * @param address A peer address, or canonical IP text.
 * @returns A short group key.
 * @example Groups
 * ```ts
 * import { networkGroup } from "./address.ts";
 * import assert from "node:assert/strict";
 * assert.equal(networkGroup("198.51.100.7"), "198.51");
 * assert.equal(networkGroup("2001:db8:1::5"), "2001:db8");
 * assert.equal(networkGroup("::1"), "local");
 * assert.equal(networkGroup("127.8.0.1"), "local");
 * ```
 */
export function networkGroup(address: PeerAddress | string): string {
  const ip = parseIp(typeof address === "string" ? address : address.ip);
  if (ip === undefined) return "invalid";
  if (addressScope(ip.text) === "loopback") return "local";
  const b = ip.bytes;
  if (!ip.v6) return `${b[0]}.${b[1]}`;
  return `${((b[0] << 8) | b[1]).toString(16)}:${((b[2] << 8) | b[3]).toString(16)}`;
}

// ---- internals ---------------------------------------------------------------------------------

/**
 * A dotted quad (four parts of 1–3 digits, each ≤ 255, without leading zeros) as an unsigned
 * 32-bit number, or -1. No allocation: the address book's hot path calls it per entry.
 */
function ipv4Number(text: string): number {
  if (text.length > 15) return -1;
  let n = 0, part = 0, value = 0, digits = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 0x2e; // a final "." closes the last part
    if (c >= 0x30 && c <= 0x39) {
      if (digits === 1 && value === 0) return -1; // no leading zeros
      value = value * 10 + (c - 0x30);
      if (++digits > 3) return -1;
    } else if (c === 0x2e && digits > 0 && part < 4 && value <= 255) {
      n = n * 256 + value;
      part++;
      value = 0;
      digits = 0;
    } else {
      return -1;
    }
  }
  return part === 4 ? n : -1;
}

function parseIpv4(text: string): Uint8Array | undefined {
  const n = ipv4Number(text);
  if (n < 0) return undefined;
  return Uint8Array.of(n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255);
}

/** The scope of an IPv4 address given as a number (spec §A.4). */
function ipv4Scope(n: number): AddressScope {
  const a = n >>> 24, b = (n >>> 16) & 255;
  if (n === 0 || n === 0xffffffff || (a >= 224 && a <= 239)) return "unusable";
  if (a === 127) return "loopback";
  if (
    a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) ||
    (a === 100 && b >= 64 && b <= 127)
  ) {
    return "private";
  }
  return "public";
}

function formatIpv4(b: Uint8Array): string {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

/** Parses IPv6 text (no brackets, no zone) into 16 bytes. */
function parseIpv6(text: string): Uint8Array | undefined {
  if (!/^[0-9A-Fa-f:.]+$/.test(text)) return undefined;
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const parseGroups = (part: string, allowV4Tail: boolean): number[] | undefined => {
    if (part === "") return [];
    const groups: number[] = [];
    const items = part.split(":");
    for (let i = 0; i < items.length; i++) {
      const item = items[i];
      if (item.includes(".")) {
        if (!allowV4Tail || i !== items.length - 1) return undefined;
        const v4 = parseIpv4(item);
        if (v4 === undefined) return undefined;
        groups.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
        continue;
      }
      if (!/^[0-9A-Fa-f]{1,4}$/.test(item)) return undefined;
      groups.push(parseInt(item, 16));
    }
    return groups;
  };
  let groups: number[];
  if (halves.length === 1) {
    const g = parseGroups(halves[0], true);
    if (g === undefined || g.length !== 8) return undefined;
    groups = g;
  } else {
    const head = parseGroups(halves[0], false);
    const tail = parseGroups(halves[1], true);
    if (head === undefined || tail === undefined || head.length + tail.length > 7) {
      return undefined;
    }
    groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  }
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    out[2 * i] = groups[i] >> 8;
    out[2 * i + 1] = groups[i] & 0xff;
  }
  return out;
}

function isMappedIpv4(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

/** RFC 5952 §4: lower-case hex, no leading zeros, the longest (first) run of ≥ 2 zeros as `::`. */
function formatIpv6(b: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((b[2 * i] << 8) | b[2 * i + 1]);
  let bestStart = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (g: number[]) => g.map((x) => x.toString(16)).join(":");
  if (bestLen < 2) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}
