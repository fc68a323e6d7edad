/**
 * Helpers of the kv store's real-socket tests: raw TCP exchanges (what came back and whether the
 * node closed), a UDP socket that collects datagrams, a tiny TCP peer that answers heartbeats,
 * and polling until a condition holds.
 */
import { type KvServer, serveKv, type ServeKvOptions } from "../../src/kv/kv_deno.ts";

/** main.ts and the checkout it is in. */
export const MAIN = new URL("../../main.ts", import.meta.url).pathname;
export const ROOT = new URL("../../", import.meta.url).pathname;
/** `deno run` with what `deno task bitclone` grants. */
export const RUN = ["run", "--allow-net", "--allow-read", "--allow-write", "--allow-env", MAIN];

export const te = new TextEncoder();
export const td = new TextDecoder();

/** A node on 127.0.0.1 (any ports, memory only, no broadcast) and how to stop it. */
export async function startKv(
  options: Partial<ServeKvOptions> = {},
): Promise<KvServer & { stop(): Promise<void> }> {
  const ac = new AbortController();
  const kv = await serveKv({
    hostname: "127.0.0.1",
    tcpPort: 0,
    udpPort: 0,
    memory: true,
    advertise: "127.0.0.1",
    broadcast: [],
    signal: ac.signal,
    ...options,
  });
  return {
    ...kv,
    stop: async () => {
      ac.abort();
      await kv.done;
    },
  };
}

/** What one TCP exchange gave: the bytes the node wrote before it closed, and whether it closed. */
export interface Exchange {
  readonly reply: string;
  readonly bytes: Uint8Array;
  /** The node ended the connection (EOF or reset) before `timeoutMs`. */
  readonly closed: boolean;
}

/**
 * Connects to 127.0.0.1:`port`, writes `message` in one write (nothing when undefined), optionally
 * half-closes, and reads until the node closes or `timeoutMs` passes.
 */
export async function exchange(
  port: number,
  message: string | Uint8Array | undefined,
  options: { halfClose?: boolean; timeoutMs?: number } = {},
): Promise<Exchange> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      conn.close();
    } catch { /* closed */ }
  }, options.timeoutMs ?? 10_000);
  const chunks: Uint8Array[] = [];
  let closed = false;
  try {
    if (message !== undefined) {
      const bytes = typeof message === "string" ? te.encode(message) : message;
      try {
        let at = 0;
        while (at < bytes.length) at += await conn.write(bytes.subarray(at));
        if (options.halfClose) await conn.closeWrite();
      } catch {
        // the node closed while we wrote (e.g. over its size cap): read what is left
      }
    }
    const buf = new Uint8Array(65536);
    for (;;) {
      let n: number | null;
      try {
        n = await conn.read(buf);
      } catch {
        n = null; // reset by the node, or closed by our timer
      }
      if (n === null) {
        closed = !timedOut;
        break;
      }
      chunks.push(buf.slice(0, n));
    }
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed */ }
  }
  const size = chunks.reduce((s, c) => s + c.length, 0);
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.length;
  }
  return { reply: td.decode(bytes), bytes, closed };
}

/** A UDP socket on 127.0.0.1 that keeps every datagram it receives. */
export class UdpProbe {
  readonly socket: Deno.DatagramConn;
  readonly received: { from: string; bytes: Uint8Array }[] = [];
  readonly #loop: Promise<void>;

  constructor() {
    const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    this.socket = socket;
    this.#loop = (async () => {
      try {
        for (;;) {
          const [bytes, from] = await socket.receive();
          const a = from as Deno.NetAddr;
          this.received.push({ from: `${a.hostname}:${a.port}`, bytes });
        }
      } catch {
        // closed
      }
    })();
  }

  get port(): number {
    return (this.socket.addr as Deno.NetAddr).port;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async send(port: number, message: string | Uint8Array): Promise<void> {
    const bytes = typeof message === "string" ? te.encode(message) : message;
    await this.socket.send(bytes, { transport: "udp", hostname: "127.0.0.1", port });
  }

  /** The received datagrams as text. */
  texts(): string[] {
    return this.received.map((r) => td.decode(r.bytes));
  }

  async close(): Promise<void> {
    this.socket.close();
    await this.#loop;
  }
}

/**
 * A tiny TCP peer on 127.0.0.1: reads each connection's first bytes, answers
 * `"HeartbeatResponse"` to a `"Heartbeat"`, closes, and keeps what it was sent.
 */
export class TcpPeer {
  readonly listener: Deno.TcpListener;
  readonly messages: string[] = [];
  readonly #loop: Promise<void>;

  constructor() {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.listener = listener;
    this.#loop = (async () => {
      try {
        for await (const conn of listener) this.#serve(conn);
      } catch {
        // closed
      }
    })();
  }

  get port(): number {
    return (this.listener.addr as Deno.NetAddr).port;
  }

  async #serve(conn: Deno.TcpConn): Promise<void> {
    const buf = new Uint8Array(65536);
    let text = "";
    try {
      const timer = setTimeout(() => conn.close(), 3000);
      for (;;) {
        const n = await conn.read(buf);
        if (n === null) break;
        text += td.decode(buf.subarray(0, n));
        if (text === '"Heartbeat"') {
          await conn.write(te.encode('"HeartbeatResponse"'));
          break;
        }
        if (text.startsWith('{"Sync"')) continue; // a Sync: read until the node closes
        if (text.startsWith('{"SyncAll"')) break; // a pull: we hold nothing
      }
      clearTimeout(timer);
    } catch {
      // reset or timed out
    }
    this.messages.push(text);
    try {
      conn.close();
    } catch { /* closed */ }
  }

  async close(): Promise<void> {
    this.listener.close();
    await this.#loop;
  }
}

/** Waits until `check()` is true (polling every 50 ms), or fails with `what` after `ms`. */
export async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  ms = 20_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A TCP port on 127.0.0.1 that refuses connections (bound, then closed). */
export function closedPort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/**
 * Starts `bitclone kv serve` on 127.0.0.1 (any ports, advertising 127.0.0.1, plus `args`) and
 * waits for its banner; gives its TCP and UDP ports.
 */
export async function spawnServe(
  args: string[],
): Promise<{ child: Deno.ChildProcess; port: number; udpPort: number }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      ...RUN,
      ...["kv", "serve", "--hostname", "127.0.0.1", "--tcp-port", "0", "--udp-port", "0"],
      ...["--advertise", "127.0.0.1", ...args],
    ],
    cwd: ROOT,
    stdout: "piped",
    stderr: "null",
    stdin: "null",
    env: { NO_COLOR: "1" },
  }).spawn();
  const reader = child.stdout.getReader();
  const dec = new TextDecoder();
  let out = "";
  const deadline = Date.now() + 30_000;
  let m: RegExpExecArray | null = null;
  while ((m = /on tcp 127\.0\.0\.1:(\d+) and udp 127\.0\.0\.1:(\d+),/.exec(out)) === null) {
    if (Date.now() > deadline) throw new Error(`no banner: ${out}`);
    const { value, done } = await reader.read();
    if (done) throw new Error(`exited before its banner: ${out}`);
    out += dec.decode(value);
  }
  // keep draining stdout so the process never blocks on a full pipe
  (async () => {
    try {
      while (!(await reader.read()).done) { /* drain */ }
    } catch { /* killed */ }
  })();
  return { child, port: Number(m[1]), udpPort: Number(m[2]) };
}
