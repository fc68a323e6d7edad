/**
 * Shared helpers of the ring tests: the spec's vectors (tests/fixtures/pickle.jsonl) and a few
 * ways to drive a ring core by hand.
 */
import assert from "node:assert/strict";
import type { ConnId, EventSource, StreamAction, StreamCore } from "../../src/core/mod.ts";
import { parseHostPort } from "../../src/net/hostport.ts";

/** A ring core: a stream core with events. */
export type RingCore<E> = StreamCore & EventSource<E>;

const VECTORS = new Map<string, Uint8Array>(
  Deno.readTextFileSync(new URL("../fixtures/pickle.jsonl", import.meta.url))
    .split("\n").filter((l) => l.trim() !== "").map((l) =>
      JSON.parse(l) as { name: string; hex: string }
    )
    .map((v) => [v.name, Uint8Array.from(v.hex.match(/../g) ?? [], (h) => parseInt(h, 16))]),
);

/** The bytes of a vector of the spec. */
export function vector(name: string): Uint8Array {
  const bytes = VECTORS.get(name);
  assert.ok(bytes, `no vector ${name}`);
  return bytes;
}

/** Bytes as Latin-1 text (pickles are mostly ASCII; assertions then show them readably). */
export function latin1(bytes: Uint8Array): string {
  return new TextDecoder("latin1").decode(bytes);
}

/** Text as Latin-1 bytes. */
export function bytesOf(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

/** Takes every pending action. */
export function actions<E>(core: RingCore<E>): StreamAction[] {
  const out: StreamAction[] = [];
  for (let a = core.pollAction(); a; a = core.pollAction()) out.push(a);
  return out;
}

/** Takes every pending event. */
export function events<E>(core: RingCore<E>): E[] {
  const out: E[] = [];
  for (let e = core.pollEvent(); e; e = core.pollEvent()) out.push(e);
  return out;
}

/** An outbound exchange the core asked for. */
export interface Outbound {
  conn: ConnId;
  host: string;
  port: number;
}

/**
 * Drives a core by hand: actions taken for one connection leave the others waiting in
 * `pending`, so a test can look at one exchange at a time.
 */
export class Script<E> {
  pending: StreamAction[] = [];
  constructor(readonly core: RingCore<E>) {}

  /** Every action not yet looked at. */
  take(): StreamAction[] {
    const out = [...this.pending, ...actions(this.core)];
    this.pending = [];
    return out;
  }

  /** The actions of `conn`; the others stay pending. */
  takeFor(conn: ConnId): StreamAction[] {
    const all = this.take();
    this.pending = all.filter((a) => a.conn !== conn);
    return all.filter((a) => a.conn === conn);
  }

  /** The `connect` actions; the others stay pending. */
  connects(): Outbound[] {
    const all = this.take();
    this.pending = all.filter((a) => a.type !== "connect");
    return all.flatMap((a) =>
      a.type === "connect"
        ? [{ conn: a.conn, host: parseHostPort(a.to)!.hostname, port: parseHostPort(a.to)!.port }]
        : []
    );
  }

  /**
   * Sends one request on a new inbound connection (in one chunk, or `chunk`-byte pieces) and
   * returns the reply written, after checking that the connection was then closed.
   */
  serve(
    request: Uint8Array,
    now: number,
    options: { from?: string; chunk?: number } = {},
  ): string | undefined {
    const conn = this.core.handleAccept(
      `${options.from ?? "127.0.0.1"}:40000`,
      "127.0.0.1:7777",
      now,
    );
    const step = Math.max(1, options.chunk ?? request.length);
    for (let i = 0; i < request.length; i += step) {
      this.core.handleData(conn, request.subarray(i, i + step), now);
    }
    return this.finished(conn);
  }

  /** Checks that `conn` got at most one write and was closed; returns the write as text. */
  finished(conn: ConnId): string | undefined {
    const acts = this.takeFor(conn);
    const writes = acts.filter((a) => a.type === "write");
    assert.ok(writes.length <= 1, "one reply at most");
    assert.equal(acts.at(-1)?.type, "close", `connection ${conn} closed after its reply`);
    return writes[0]?.type === "write" ? latin1(writes[0].bytes) : undefined;
  }

  /** An outbound connection opens: returns what was written, and whether it was then closed. */
  open(conn: ConnId, now: number): { wrote: string; closed: boolean } {
    this.core.handleConnected(conn, now);
    const acts = this.takeFor(conn);
    const write = acts.find((a) => a.type === "write");
    assert.ok(write?.type === "write", `connection ${conn} writes its request once connected`);
    return { wrote: latin1(write.bytes), closed: acts.some((a) => a.type === "close") };
  }

  /**
   * An outbound one-way exchange (UPDATE_NBR): the connection opens, the request is written, the
   * peer closes; returns what was written after checking that the core then closed too.
   */
  delivered(conn: ConnId, now: number): string {
    const { wrote, closed } = this.open(conn, now);
    assert.equal(closed, false, "the core waits for the peer to close");
    this.core.handleEof(conn, now);
    assert.deepEqual(this.takeFor(conn), [{ type: "close", conn }]);
    return wrote;
  }
}
