/**
 * Helpers for the LSP tests on real UDP sockets (127.0.0.1 and [::1]): bounded waits, an echo
 * server that records what it read, a lock-step echo client, and a raw-datagram peer that speaks
 * the wire format by hand. Everything here closes what it opens, so Deno's sanitizers stay on.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { LspClient } from "../../src/lsp/client_deno.ts";
import { LspConnectionError } from "../../src/lsp/errors.ts";
import type { LspParams } from "../../src/lsp/params.ts";
import type { LspServer } from "../../src/lsp/server_deno.ts";
import { decodeMessage, encodeMessage, type LspMessage, MsgType } from "../../src/lsp/wire.ts";
import { addrKey } from "../../src/net/resolve.ts";

/** Short epochs for loopback tests on a loss-free network: K·δ = 2 s of tolerated silence. */
export const FAST: Partial<LspParams> = { epochLimit: 20, epochMillis: 100 };

const enc = new TextEncoder();
const dec = new TextDecoder();

/** UTF-8 bytes of `text`. */
export function bytes(text: string): Uint8Array {
  return enc.encode(text);
}

/** `bytes` as UTF-8 text. */
export function text(payload: Uint8Array): string {
  return dec.decode(payload);
}

/**
 * Settles like `promise`, or rejects after `ms` with an error naming `what`. The timer is always
 * cleared, so a test that passes leaves no timer behind.
 */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms: ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves once `cond()` holds (checked every `intervalMs`), or rejects after `timeoutMs`. */
export async function waitFor(
  cond: () => boolean,
  what: string,
  { timeoutMs = 10_000, intervalMs = 5 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** What a promise did, observed without awaiting it. */
export interface Watched<T> {
  readonly promise: Promise<T>;
  state: "pending" | "resolved" | "rejected";
  value?: T;
  error?: unknown;
}

/** Tracks `promise`'s outcome (and marks its rejection handled). */
export function watch<T>(promise: Promise<T>): Watched<T> {
  const w: Watched<T> = { promise, state: "pending" };
  promise.then(
    (value) => {
      w.state = "resolved";
      w.value = value;
    },
    (error) => {
      w.state = "rejected";
      w.error = error;
    },
  );
  return w;
}

/** Awaits `promise` and returns its rejection, failing if it resolves. */
export async function rejection(promise: Promise<unknown>, what: string): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  assert.fail(`${what}: resolved, expected a rejection`);
}

/** Asserts `err` is an {@linkcode LspConnectionError} with this connId and reason. */
export function assertConnError(
  err: unknown,
  connId: number,
  reason: LspConnectionError["reason"],
  what = "error",
): void {
  assert.ok(err instanceof LspConnectionError, `${what}: not an LspConnectionError: ${err}`);
  assert.equal(err.connId, connId, `${what}: connId`);
  assert.equal(err.reason, reason, `${what}: reason`);
}

/** A running echo loop over an {@linkcode LspServer}, recording what it read. */
export interface EchoRecorder {
  /** Payloads read per ConnID, as text, in read order. */
  readonly received: Map<number, string[]>;
  /** ConnIDs whose read reported an error, with the error, in order. */
  readonly errors: LspConnectionError[];
  /** Echo writes that failed. */
  readonly writeFailures: { connId: number; error: Error }[];
  /** Resolves when the server's async iteration ends (after close/closeNow/abort). */
  readonly finished: Promise<void>;
}

/** Echoes every payload back to its sender until the server's iteration ends. */
export function echoServe(server: LspServer): EchoRecorder {
  const received = new Map<number, string[]>();
  const errors: LspConnectionError[] = [];
  const writeFailures: { connId: number; error: Error }[] = [];
  const finished = (async () => {
    for await (const item of server) {
      if (item instanceof LspConnectionError) {
        errors.push(item);
        continue;
      }
      const list = received.get(item.connId) ?? [];
      list.push(text(item.payload));
      received.set(item.connId, list);
      try {
        server.write(item.connId, item.payload);
      } catch (err) {
        writeFailures.push({ connId: item.connId, error: err as Error });
      }
    }
  })();
  return { received, errors, writeFailures, finished };
}

/**
 * Settles every promise and returns the values, or throws the first rejection; either way the
 * fulfilled values are pushed into `into` first (so that the caller can close what did open).
 */
export async function allOrFirstError<T>(promises: Promise<T>[], into: T[]): Promise<T[]> {
  const settled = await Promise.allSettled(promises);
  for (const r of settled) if (r.status === "fulfilled") into.push(r.value);
  const failed = settled.find((r) => r.status === "rejected");
  if (failed) throw (failed as PromiseRejectedResult).reason;
  return into;
}

/**
 * Stops clients at once when a test ends, passed or failed: a client whose `close()` waits for
 * Acks that never come would otherwise hang the test. Give each client `janitor.signal()`, track
 * its `done`, and call `janitor.cleanup()` in `finally`.
 */
export class Janitor {
  #controllers: AbortController[] = [];
  #waits: Promise<unknown>[] = [];

  /** A signal aborted by `cleanup()`, combined with `extra` when given. */
  signal(extra?: AbortSignal): AbortSignal {
    const controller = new AbortController();
    this.#controllers.push(controller);
    return extra ? AbortSignal.any([extra, controller.signal]) : controller.signal;
  }

  /** Awaits `done` (settled either way) in `cleanup()`. */
  track(done: Promise<unknown>): void {
    this.#waits.push(done);
  }

  /** Aborts every signal handed out and waits for everything tracked. */
  async cleanup(): Promise<void> {
    for (const c of this.#controllers.splice(0)) c.abort(new Error("test cleanup"));
    await Promise.allSettled(this.#waits.splice(0));
  }
}

/** The lock-step messages `<tag>-0 … <tag>-(count−1)`. */
export function messages(tag: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${tag}-${i}`);
}

/** Writes each message, waits for its echo and checks it, one at a time. Returns the echoes. */
export async function lockStepEcho(client: LspClient, sent: readonly string[]): Promise<string[]> {
  const got: string[] = [];
  for (const m of sent) {
    client.write(bytes(m));
    const echo = text(await client.read());
    got.push(echo);
    assert.equal(echo, m, `client ${client.connId}: echo ${got.length - 1}`);
  }
  return got;
}

/** True when this process may use IPv6 loopback (`[::1]` and `[::]`) and the host has it. */
export async function ipv6LoopbackUsable(): Promise<boolean> {
  for (const host of ["[::1]", "[::]"]) {
    const status = await Deno.permissions.query({ name: "net", host });
    if (status.state !== "granted") return false;
  }
  try {
    Deno.listenDatagram({ transport: "udp", hostname: "::1", port: 0 }).close();
    return true;
  } catch {
    return false;
  }
}

/** One datagram a {@linkcode RawPeer} received. */
export interface RawDatagram {
  readonly from: string;
  readonly bytes: Uint8Array;
  /** The decoded message, or `undefined` for garbage. */
  readonly msg: LspMessage | undefined;
}

/**
 * A bare UDP socket that speaks LSP by hand: send any bytes or message, and take received
 * datagrams from a queue with a timeout. A background loop receives until `close()`.
 */
export class RawPeer {
  readonly socket: Deno.DatagramConn;
  readonly #inbox: RawDatagram[] = [];
  #wake: (() => void) | undefined;
  readonly #loop: Promise<void>;
  #closed = false;

  constructor(hostname = "127.0.0.1") {
    this.socket = Deno.listenDatagram({ transport: "udp", hostname, port: 0 });
    this.#loop = this.#receiveLoop();
  }

  /** This socket's `host:port`. */
  get addr(): string {
    return addrKey(this.socket.addr);
  }

  /** Datagrams received and not yet taken. */
  get queued(): number {
    return this.#inbox.length;
  }

  /** Sends raw bytes or an encoded message to `port` on `hostname`. */
  async send(
    data: Uint8Array | LspMessage,
    port: number,
    hostname = "127.0.0.1",
  ): Promise<void> {
    const payload = data instanceof Uint8Array ? data : encodeMessage(data);
    await this.socket.send(payload, { transport: "udp", hostname, port });
  }

  /** The next received datagram; rejects after `timeoutMs`. */
  async next(timeoutMs = 5_000): Promise<RawDatagram> {
    const deadline = performance.now() + timeoutMs;
    while (this.#inbox.length === 0) {
      const left = deadline - performance.now();
      if (left <= 0 || this.#closed) {
        throw new Error(`RawPeer: nothing received in ${timeoutMs} ms`);
      }
      await withTimeout(
        new Promise<void>((resolve) => this.#wake = resolve),
        left,
        "RawPeer datagram",
      ).catch(() => {});
      this.#wake = undefined;
    }
    return this.#inbox.shift()!;
  }

  /**
   * The next received message that is not a heartbeat (`Ack(id, 0)`), skipping heartbeats.
   * Garbage fails the test.
   */
  async nextMessage(timeoutMs = 5_000): Promise<LspMessage> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const d = await this.next(Math.max(1, deadline - performance.now()));
      assert.ok(d.msg, `RawPeer: undecodable datagram ${text(d.bytes)}`);
      if (d.msg.type === MsgType.Ack && d.msg.seqNum === 0) continue;
      return d.msg;
    }
  }

  /** Drops everything received so far. */
  clear(): void {
    this.#inbox.length = 0;
  }

  /** Closes the socket and waits for the receive loop to end. Idempotent. */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      try {
        this.socket.close();
      } catch {
        // already closed
      }
      this.#wake?.();
    }
    await this.#loop;
  }

  async #receiveLoop(): Promise<void> {
    while (!this.#closed) {
      let got: [Uint8Array, Deno.Addr];
      try {
        got = await this.socket.receive();
      } catch {
        if (this.#closed) return;
        continue; // an ICMP error: keep going
      }
      this.#inbox.push({ from: addrKey(got[1]), bytes: got[0], msg: decodeMessage(got[0]) });
      this.#wake?.();
    }
  }
}
