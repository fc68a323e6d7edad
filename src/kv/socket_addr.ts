/**
 * Rust's `SocketAddr::from_str`, which serde uses for `Handshake.tcp_address` (spec `kv.md` §2.3),
 * translated rule for rule from `core::net::parser` (library/core/src/net/parser.rs):
 *
 * - IPv4 octets: `read_number(10, Some(3), false)`: 1–3 decimal digits, value ≤ 255, and NO
 *   leading zero (`01` is rejected; `0` alone is fine).
 * - Port: `read_number(10, None, true)` into a `u16` with checked arithmetic: any number of
 *   digits, leading zeros ALLOWED (`1.2.3.4:09000` and `1.2.3.4:0000080` are accepted), value
 *   ≤ 65535 (overflow rejects).
 * - IPv6 groups: `read_number(16, Some(4), true)`: 1–4 hex digits (either case), leading zeros
 *   allowed; at most one `::`; an embedded IPv4 only as the last 32 bits; `[addr]:port`, with an
 *   optional `%scope` before `]` read by `read_number(10, None, true)` into a `u32` (numeric only,
 *   leading zeros allowed).
 * - The whole string must be consumed: no whitespace, no host names, no missing port.
 *
 * @module
 */

/** A parsed socket address. */
export interface SocketAddrParts {
  readonly family: 4 | 6;
  /** 4 octets (IPv4) or 8 groups of 16 bits (IPv6). */
  readonly ip: readonly number[];
  readonly port: number;
  /** The IPv6 scope id (0 when absent, and for IPv4). */
  readonly scopeId: number;
}

class P {
  pos = 0;
  constructor(readonly s: string) {}

  atomically<T>(f: () => T | null): T | null {
    const save = this.pos;
    const r = f();
    if (r === null) this.pos = save;
    return r;
  }

  char(c: string): true | null {
    if (this.s[this.pos] === c) {
      this.pos++;
      return true;
    }
    return null;
  }

  number(radix: 10 | 16, maxDigits: number | null, allowZeroPrefix: boolean, max: number) {
    return this.atomically(() => {
      const leadingZero = this.s[this.pos] === "0";
      let count = 0;
      let result = 0;
      for (;;) {
        const d = digit(this.s.charCodeAt(this.pos), radix);
        if (d < 0) break;
        this.pos++;
        result = result * radix + d;
        count++;
        if (maxDigits !== null && count > maxDigits) return null;
        if (maxDigits === null && result > max) return null; // checked_mul/checked_add overflow
      }
      if (count === 0) return null;
      if (!allowZeroPrefix && leadingZero && count > 1) return null;
      return result > max ? null : result; // try_into() for the bounded-digits case
    });
  }

  separator<T>(sep: string, index: number, inner: () => T | null): T | null {
    return this.atomically(() => {
      if (index > 0 && this.char(sep) === null) return null;
      return inner();
    });
  }

  ipv4(): number[] | null {
    return this.atomically(() => {
      const groups: number[] = [];
      for (let i = 0; i < 4; i++) {
        const g = this.separator(".", i, () => this.number(10, 3, false, 255));
        if (g === null) return null;
        groups.push(g);
      }
      return groups;
    });
  }

  /** read_groups: fills `groups` up to `limit`; returns [count, embeddedIpv4]. */
  groups(groups: number[], limit: number): [number, boolean] {
    for (let i = 0; i < limit; i++) {
      if (i < limit - 1) {
        const v4 = this.separator(":", i, () => this.ipv4());
        if (v4 !== null) {
          groups[i] = v4[0] * 256 + v4[1];
          groups[i + 1] = v4[2] * 256 + v4[3];
          return [i + 2, true];
        }
      }
      const g = this.separator(":", i, () => this.number(16, 4, true, 0xffff));
      if (g === null) return [i, false];
      groups[i] = g;
    }
    return [limit, false];
  }

  ipv6(): number[] | null {
    return this.atomically(() => {
      const head = [0, 0, 0, 0, 0, 0, 0, 0];
      const [headSize, headV4] = this.groups(head, 8);
      if (headSize === 8) return head;
      if (headV4) return null;
      if (this.char(":") === null || this.char(":") === null) return null;
      const tail: number[] = [];
      const [tailSize] = this.groups(tail, 8 - (headSize + 1));
      for (let i = 0; i < tailSize; i++) head[8 - tailSize + i] = tail[i];
      return head;
    });
  }

  port(): number | null {
    return this.atomically(() => this.char(":") && this.number(10, null, true, 0xffff));
  }

  v4(): SocketAddrParts | null {
    return this.atomically(() => {
      const ip = this.ipv4();
      if (ip === null) return null;
      const port = this.port();
      return port === null ? null : { family: 4 as const, ip, port, scopeId: 0 };
    });
  }

  v6(): SocketAddrParts | null {
    return this.atomically(() => {
      if (this.char("[") === null) return null;
      const ip = this.ipv6();
      if (ip === null) return null;
      const scopeId = this.atomically(() =>
        this.char("%") && this.number(10, null, true, 0xffffffff)
      ) ?? 0;
      if (this.char("]") === null) return null;
      const port = this.port();
      return port === null ? null : { family: 6 as const, ip, port, scopeId };
    });
  }
}

function digit(c: number, radix: 10 | 16): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (radix === 16 && c >= 0x61 && c <= 0x66) return c - 0x57;
  if (radix === 16 && c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

/**
 * Parses a socket address exactly as Rust's `SocketAddr::from_str` does, or returns `null`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseSocketAddr } from "./socket_addr.ts";
 * assert.deepEqual(parseSocketAddr("10.0.0.5:9000"), { family: 4, ip: [10, 0, 0, 5], port: 9000, scopeId: 0 });
 * assert.equal(parseSocketAddr("1.2.3.4:09000")?.port, 9000); // Rust allows a zero-prefixed port
 * assert.equal(parseSocketAddr("01.2.3.4:9000"), null); // but not a zero-prefixed octet
 * assert.equal(parseSocketAddr("[fe80::1%2]:80")?.scopeId, 2);
 * assert.equal(parseSocketAddr("localhost:9100"), null);
 * assert.equal(parseSocketAddr("1.2.3.4:65536"), null);
 * ```
 */
export function parseSocketAddr(text: string): SocketAddrParts | null {
  const p = new P(text);
  const r = p.v4() ?? p.v6();
  return r !== null && p.pos === text.length ? r : null;
}
