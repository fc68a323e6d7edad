/**
 * A scripted {@linkcode PeerNodeCore} for adapter tests (not a test file): it records every input
 * and answers through a `react` hook that may queue actions. Actions a test wants at a time of its
 * choosing go through {@linkcode FakeCore.later}, which makes the next tick emit them.
 *
 * @module
 */
import type {
  ConnKey,
  PeerNodeAction,
  PeerNodeCore,
  PeerNodeStatus,
} from "../../src/bitclone/peer_node_types.ts";

/** One input the adapter gave the core. */
export type FakeInput =
  | { type: "inbound"; key: ConnKey; remote: string; local: string; now: number }
  | { type: "dialed"; key: ConnKey; local: string; now: number }
  | { type: "dialFailed"; key: ConnKey; reason: string; now: number }
  | { type: "data"; key: ConnKey; bytes: Uint8Array; now: number }
  | { type: "eof"; key: ConnKey; now: number }
  | { type: "reset"; key: ConnKey; reason: string; now: number }
  | { type: "tick"; now: number }
  | { type: "shutdown"; now: number };

const te = new TextEncoder();

/** A `send` action of text. */
export function sendText(key: ConnKey, text: string): PeerNodeAction {
  return { type: "send", key, bytes: te.encode(text) };
}

/** A core that does only what the test scripts. */
export class FakeCore implements PeerNodeCore {
  /** Every input, in order. */
  readonly inputs: FakeInput[] = [];
  /** Actions waiting for `pollAction()`. */
  readonly queue: PeerNodeAction[] = [];
  /** What `nextTimeout()` answers. */
  timeout: number | undefined;
  /** Called after each input is recorded; may push actions or throw. */
  react: (input: FakeInput, core: FakeCore) => void = () => {};
  /** The greatest number of inputs that were running at once (re-entrancy check). */
  maxDepth = 0;
  #depth = 0;
  #later: PeerNodeAction[] = [];

  /** Queues `actions` for the next tick and makes that tick due now. */
  later(...actions: PeerNodeAction[]): void {
    this.#later.push(...actions);
    this.timeout = 0;
  }

  /** Queues actions for the current drain. */
  push(...actions: PeerNodeAction[]): void {
    this.queue.push(...actions);
  }

  /** Inputs of one type. */
  of<T extends FakeInput["type"]>(type: T): Extract<FakeInput, { type: T }>[] {
    return this.inputs.filter((i): i is Extract<FakeInput, { type: T }> => i.type === type);
  }

  /** Bytes received on `key`, as text. */
  received(key: ConnKey): string {
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

  handleInbound(key: ConnKey, remote: string, local: string, now: number): void {
    this.#record({ type: "inbound", key, remote, local, now });
  }
  handleDialed(key: ConnKey, local: string, now: number): void {
    this.#record({ type: "dialed", key, local, now });
  }
  handleDialFailed(key: ConnKey, reason: string, now: number): void {
    this.#record({ type: "dialFailed", key, reason, now });
  }
  handleData(key: ConnKey, bytes: Uint8Array, now: number): void {
    this.#record({ type: "data", key, bytes: bytes.slice(), now });
  }
  handleEof(key: ConnKey, now: number): void {
    this.#record({ type: "eof", key, now });
  }
  handleReset(key: ConnKey, reason: string, now: number): void {
    this.#record({ type: "reset", key, reason, now });
  }
  handleTick(now: number): void {
    this.#record({ type: "tick", now });
    if (this.timeout !== undefined && this.timeout <= now) this.timeout = undefined;
  }
  shutdown(now: number): void {
    this.#record({ type: "shutdown", now });
  }
  pollAction(): PeerNodeAction | undefined {
    return this.queue.shift();
  }
  nextTimeout(): number | undefined {
    return this.timeout;
  }
  status(): PeerNodeStatus {
    return { inbound: 0, outbound: 0, pending: 0, known: 0, tried: 0 };
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
