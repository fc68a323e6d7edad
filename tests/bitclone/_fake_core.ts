/**
 * A scripted stream core for the peer adapter's tests (not a test file): it records every input
 * and answers through a `react` hook that may queue actions. Actions a test wants at a time of its
 * choosing go through {@linkcode FakeCore.later}, which makes the next tick emit them.
 *
 * @module
 */
import type { PeerNodeOwnAction } from "../../src/bitclone/peer_node_types.ts";
import type { StoppableCore } from "../../src/bitclone/tcp_adapter_deno.ts";
import type { ConnId, StreamAction } from "../../src/core/mod.ts";

/** An action the fake core can emit. */
export type FakeAction = StreamAction | PeerNodeOwnAction;

/**
 * One input the driver gave the core (`dialFailed` and `reset` are `handleError()` on a connect
 * still under way and on an open connection).
 */
export type FakeInput =
  | { type: "inbound"; key: ConnId; remote: string; local: string; now: number }
  | { type: "dialed"; key: ConnId; local: string; now: number }
  | { type: "dialFailed"; key: ConnId; reason: string; now: number }
  | { type: "data"; key: ConnId; bytes: Uint8Array; now: number }
  | { type: "eof"; key: ConnId; now: number }
  | { type: "reset"; key: ConnId; reason: string; now: number }
  | { type: "tick"; now: number }
  | { type: "shutdown"; now: number };

const te = new TextEncoder();

/** A `write` action of text. */
export function sendText(key: ConnId, text: string): FakeAction {
  return { type: "write", conn: key, bytes: te.encode(text) };
}

/** A core that does only what the test scripts. Inbound connections get ids 1, 2, … */
export class FakeCore implements StoppableCore {
  /** Every input, in order. */
  readonly inputs: FakeInput[] = [];
  /** Actions waiting for `pollAction()`. */
  readonly queue: FakeAction[] = [];
  /** What `nextTimeout()` answers. */
  timeout: number | undefined;
  /** Called after each input is recorded; may push actions or throw. */
  react: (input: FakeInput, core: FakeCore) => void = () => {};
  /** The greatest number of inputs that were running at once (re-entrancy check). */
  maxDepth = 0;
  #depth = 0;
  #later: FakeAction[] = [];
  #nextId = 1;
  readonly #connecting = new Set<ConnId>();

  /** Queues `actions` for the next tick and makes that tick due now. */
  later(...actions: FakeAction[]): void {
    this.#later.push(...actions);
    this.timeout = 0;
  }

  /** Queues actions for the current drain. */
  push(...actions: FakeAction[]): void {
    this.queue.push(...actions);
  }

  /** Inputs of one type. */
  of<T extends FakeInput["type"]>(type: T): Extract<FakeInput, { type: T }>[] {
    return this.inputs.filter((i): i is Extract<FakeInput, { type: T }> => i.type === type);
  }

  /** Bytes received on `key`, as text. */
  received(key: ConnId): string {
    const dec = new TextDecoder();
    return this.of("data").filter((d) => d.key === key).map((d) => dec.decode(d.bytes)).join("");
  }

  #record(input: FakeInput): void {
    this.#depth++;
    this.maxDepth = Math.max(this.maxDepth, this.#depth);
    try {
      this.inputs.push(input);
      if (input.type === "tick" && this.#later.length > 0) {
        this.queue.push(...this.#later.splice(0));
        this.timeout = undefined;
      }
      this.react(input, this);
    } finally {
      this.#depth--;
    }
  }

  handleAccept(remote: string, local: string, now: number): ConnId {
    const key = this.#nextId++;
    this.#record({ type: "inbound", key, remote, local, now });
    return key;
  }
  handleConnected(key: ConnId, now: number, local?: string): void {
    this.#connecting.delete(key);
    this.#record({ type: "dialed", key, local: local ?? "", now });
  }
  handleData(key: ConnId, bytes: Uint8Array, now: number): void {
    this.#record({ type: "data", key, bytes: bytes.slice(), now });
  }
  handleEof(key: ConnId, now: number): void {
    this.#record({ type: "eof", key, now });
  }
  handleError(key: ConnId, reason: string, now: number): void {
    const type = this.#connecting.delete(key) ? "dialFailed" : "reset";
    this.#record({ type, key, reason, now });
  }
  handleTick(now: number): void {
    this.#record({ type: "tick", now });
    if (this.timeout !== undefined && this.timeout <= now) this.timeout = undefined;
  }
  shutdown(now: number): void {
    this.#record({ type: "shutdown", now });
  }
  pollAction(): FakeAction | undefined {
    const a = this.queue.shift();
    if (a?.type === "connect") this.#connecting.add(a.conn);
    return a;
  }
  nextTimeout(): number | undefined {
    return this.timeout;
  }
}

/** Resolves once `cond()` holds; rejects with `what` after `timeoutMs`. */
export async function waitUntil(
  cond: () => boolean,
  what: string,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Reads `conn` to its end (or until it fails); returns the bytes as text. */
export async function readAll(conn: Deno.Conn, limit = 64 << 20): Promise<string> {
  const chunks: Uint8Array[] = [];
  const buf = new Uint8Array(65536);
  let total = 0;
  try {
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
      total += n;
      if (total > limit) break;
    }
  } catch {
    // reset: what came so far
  }
  const all = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  return new TextDecoder().decode(all);
}
