/**
 * Shared helpers of the BitClone tests (not a test file): the addresses and lines of the spec's
 * handshake example (§A.5.1), connections built with them, and a probe that drains a connection's
 * lines and events.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { PeerAddress } from "../../src/bitclone/address.ts";
import { PeerConn, type PeerConnOptions, type PeerEvent } from "../../src/bitclone/peer_conn.ts";
import { Prng } from "../../src/util/prng.ts";

/** The dialer of spec §A.5.1, listening on 198.51.100.5:4000. */
export const ALICE: PeerAddress = { ip: "198.51.100.5", v6: false, port: 4000 };
/** The listener of spec §A.5.1, listening on 198.51.100.7:4001. */
export const BOB: PeerAddress = { ip: "198.51.100.7", v6: false, port: 4001 };
/** Alice as Bob's socket sees her (ephemeral port 51234). */
export const ALICE_EPHEMERAL: PeerAddress = { ip: "198.51.100.5", v6: false, port: 51234 };
/** Unix ms at virtual time 0: `now = 0` is 1700000000 s. */
export const UNIX_MS_AT_ZERO = 1_700_000_000_000;

/** Alice's version line of spec §A.5.1 (sent at unix 1700000000). */
export const ALICE_VERSION =
  "version|4|3|1700000000|198.51.100.7:4001|198.51.100.5:4000|5843920175521|alice-ts|12";
/** Bob's version line of spec §A.5.1 (sent at unix 1700000001). */
export const BOB_VERSION =
  "version|4|3|1700000001|198.51.100.5:51234|198.51.100.7:4001|7021455|bob|12";

const te = new TextEncoder();
const td = new TextDecoder();

/** Alice dialing Bob, with the spec example's parameters. */
export function alice(options: Partial<PeerConnOptions> = {}): PeerConn {
  return new PeerConn({
    role: "outbound",
    prng: Prng.seeded(1),
    now: 0,
    remoteAddress: BOB,
    localAddress: ALICE,
    nonce: "5843920175521",
    userAgent: "alice-ts",
    protocolVersion: 4,
    services: 3,
    blockId: 12,
    unixMillisOffset: UNIX_MS_AT_ZERO,
    ...options,
  });
}

/** Bob accepting Alice, with the spec example's parameters. */
export function bob(options: Partial<PeerConnOptions> = {}): PeerConn {
  return new PeerConn({
    role: "inbound",
    prng: Prng.seeded(2),
    now: 0,
    remoteAddress: ALICE_EPHEMERAL,
    localAddress: BOB,
    nonce: "7021455",
    userAgent: "bob",
    protocolVersion: 4,
    services: 3,
    blockId: 12,
    unixMillisOffset: UNIX_MS_AT_ZERO,
    ...options,
  });
}

/** Drains a connection's lines and events; feeds it text. */
export class Probe {
  readonly conn: PeerConn;
  constructor(conn: PeerConn) {
    this.conn = conn;
  }

  /** Feeds text (or bytes) at `now`. */
  feed(data: string | Uint8Array, now: number): this {
    this.conn.receiveData(typeof data === "string" ? te.encode(data) : data, now);
    return this;
  }

  /** Every queued line, each checked to end in CR LF, returned without it. */
  lines(): string[] {
    const out: string[] = [];
    for (let t = this.conn.pollTransmit(), i = 0; t; t = this.conn.pollTransmit(), i++) {
      assert.ok(i < 100_000, "runaway transmits");
      const text = td.decode(t);
      assert.ok(text.endsWith("\r\n"), `line without CR LF: ${JSON.stringify(text)}`);
      assert.ok(!text.slice(0, -2).includes("\n") && !text.slice(0, -2).includes("\r"));
      out.push(text.slice(0, -2));
    }
    return out;
  }

  /** Every queued event. */
  events(): PeerEvent[] {
    const out: PeerEvent[] = [];
    for (let e = this.conn.pollEvent(), i = 0; e; e = this.conn.pollEvent(), i++) {
      assert.ok(i < 100_000, "runaway events");
      out.push(e);
    }
    return out;
  }

  /** Queued events of the given types only. */
  eventsOf<T extends PeerEvent["type"]>(...types: T[]): Extract<PeerEvent, { type: T }>[] {
    return this.events().filter((e): e is Extract<PeerEvent, { type: T }> =>
      (types as string[]).includes(e.type)
    );
  }
}

/**
 * An established connection (Alice outbound, or Bob inbound) at time `now`, outputs drained.
 * The peer is the other side of the spec example.
 */
export function established(
  role: "outbound" | "inbound",
  options: Partial<PeerConnOptions> = {},
  now = 1000,
): Probe {
  if (role === "outbound") {
    const p = new Probe(alice(options));
    p.feed(`verack|5843920175521\r\n${BOB_VERSION}\r\n`, now);
    assert.equal(p.conn.state, "established");
    p.lines();
    p.events();
    return p;
  }
  const p = new Probe(bob({ versionReplyDelayMs: 0, ...options }));
  p.feed(`${ALICE_VERSION}\r\nverack|7021455\r\n`, now);
  assert.equal(p.conn.state, "established");
  p.lines();
  p.events();
  return p;
}

/** `n` addr entries `time|10.x.y.z:port` for a line. */
export function addrPairs(n: number, time = 1_700_000_000, base = 0): string[] {
  return Array.from({ length: n }, (_, k) => {
    const i = k + base;
    return `${time}|10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:${4000 + (i % 1000)}`;
  });
}
