/**
 * Helpers of the BitClone real-socket tests (not a test file): a live peer on 127.0.0.1 with a
 * recording logger, and a raw line client that reads in the background.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  type RunningPeerNode,
  startPeerNode,
  type StartPeerNodeOptions,
} from "../../src/bitclone/node_runner_deno.ts";
import type { Logger } from "../../src/util/log_deno.ts";
import { Prng } from "../../src/util/prng.ts";

export const HOST = "127.0.0.1";
const te = new TextEncoder();

/** A recorded log line: level and rendered text. */
export interface LogLine {
  level: string;
  text: string;
  props: Record<string, unknown>;
}

/** A logger that records lines (rendered without logtape: `{{`/`}}` unescaped). */
export function recordingLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at = (level: string) => (template: string, props: Record<string, unknown> = {}) => {
    const text = template.replace(
      /\{\{|\}\}|\{(\w+)\}/g,
      (m, name) => name === undefined ? m[0] : String(props[name]),
    );
    if (lines.length < 100_000) lines.push({ level, text, props });
  };
  const logger = { error: at("error"), warn: at("warn"), info: at("info"), debug: at("debug") };
  return { logger: logger as unknown as Logger, lines };
}

/** A live peer for a test, stopped with `stop()`. */
export interface TestPeer {
  peer: RunningPeerNode;
  lines: LogLine[];
  stop(): Promise<void>;
}

/** Starts a peer on 127.0.0.1, a free port, no peers file, a seeded PRNG. */
export async function startTestPeer(options: StartPeerNodeOptions = {}): Promise<TestPeer> {
  const controller = new AbortController();
  const { logger, lines } = recordingLogger();
  const peer = await startPeerNode({
    hostname: HOST,
    port: 0,
    peersFile: null,
    prng: Prng.seeded(1),
    log: logger,
    versionReplyDelayMs: 0,
    statusIntervalMs: 3_600_000,
    ...options,
    signal: controller.signal,
  });
  return {
    peer,
    lines,
    stop: async () => {
      controller.abort();
      await peer.done;
    },
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A raw TCP client that collects CR LF lines in the background. */
export class LineClient {
  readonly conn: Deno.TcpConn;
  /** Complete lines received (terminator removed), not yet taken. */
  readonly lines: string[] = [];
  /** Every line received. */
  readonly all: string[] = [];
  closed = false;
  #rest = "";
  #reading: Promise<void>;

  private constructor(conn: Deno.TcpConn) {
    this.conn = conn;
    conn.setNoDelay(true);
    this.#reading = this.#read();
  }

  /** Connects to `port` on 127.0.0.1. */
  static async connect(port: number): Promise<LineClient> {
    return new LineClient(await Deno.connect({ hostname: HOST, port }));
  }

  /** Wraps a connection accepted by the test (the node dialed it). */
  static wrap(conn: Deno.TcpConn): LineClient {
    return new LineClient(conn);
  }

  /** The local port of this client. */
  get localPort(): number {
    return this.conn.localAddr.port;
  }

  async #read(): Promise<void> {
    const dec = new TextDecoder();
    const buf = new Uint8Array(65536);
    try {
      for (;;) {
        const n = await this.conn.read(buf);
        if (n === null) break;
        this.#rest += dec.decode(buf.subarray(0, n), { stream: true });
        const parts = this.#rest.split("\r\n");
        this.#rest = parts.pop()!;
        for (const p of parts) {
          this.lines.push(p);
          if (this.all.length < 100_000) this.all.push(p);
        }
      }
    } catch {
      // reset or closed by us
    }
    this.closed = true;
  }

  /** Writes text (or bytes) in one write call; false when the connection is gone. */
  async send(data: string | Uint8Array): Promise<boolean> {
    const bytes = typeof data === "string" ? te.encode(data) : data;
    try {
      for (let off = 0; off < bytes.length;) off += await this.conn.write(bytes.subarray(off));
      return true;
    } catch {
      return false;
    }
  }

  /** Takes the next line; fails after `timeoutMs` or when the connection closes first. */
  async next(timeoutMs = 3000): Promise<string> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const line = this.lines.shift();
      if (line !== undefined) return line;
      if (this.closed) throw new Error(`connection closed; lines so far: ${this.all.join(" / ")}`);
      if (performance.now() > deadline) {
        throw new Error(`no line within ${timeoutMs} ms; lines so far: ${this.all.join(" / ")}`);
      }
      await sleep(2);
    }
  }

  /** Takes lines until one matches `pattern` (others are skipped); returns it. */
  async until(pattern: RegExp, timeoutMs = 3000): Promise<string> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const line = await this.next(Math.max(1, deadline - performance.now()));
      if (pattern.test(line)) return line;
    }
  }

  /** Resolves once the peer closed the connection; fails after `timeoutMs`. */
  async closedWithin(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (!this.closed) {
      if (performance.now() > deadline) throw new Error(`still open after ${timeoutMs} ms`);
      await sleep(5);
    }
  }

  /** Closes the socket and waits for the reader. */
  async close(): Promise<void> {
    try {
      this.conn.close();
    } catch {
      // already closed
    }
    await this.#reading;
  }
}

/** Our `version` line as a dialer that listens on `listenPort`. */
export function versionLine(nodePort: number, listenPort: number, nonce: string, agent = "probe") {
  return `version|3|1|${Math.floor(Date.now() / 1000)}|${HOST}:${nodePort}|${HOST}:${listenPort}|` +
    `${nonce}|${agent}|0\r\n`;
}

/**
 * Completes a handshake as dialer: sends `version`, expects `verack` and the node's `version`,
 * sends `verack`, then takes the node's `getaddr`. Returns the node's `version` line.
 */
export async function handshake(
  client: LineClient,
  nodePort: number,
  listenPort: number,
  nonce: string,
): Promise<string> {
  await client.send(versionLine(nodePort, listenPort, nonce));
  const got = [await client.next(), await client.next()];
  const version = got.find((l) => l.startsWith("version|"));
  assert.ok(got.includes(`verack|${nonce}`), `no verack: ${got.join(" / ")}`);
  assert.ok(version, `no version: ${got.join(" / ")}`);
  const theirNonce = version.split("|")[6];
  await client.send(`verack|${theirNonce}\r\n`);
  assert.equal(await client.next(), "getaddr");
  return version;
}
