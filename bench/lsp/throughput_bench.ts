/**
 * LSP throughput on loopback: one client streams N messages of 1000 bytes to a server, at
 * window/max-unacked (1,1), (8,8) and (64,64), against Deno's raw UDP send/receive rate measured
 * in the same run (the group's baseline): N datagrams of 1000 bytes from one socket to another,
 * each answered by a 4-byte ack, at most 64 unacknowledged so that the kernel drops none (a
 * stalled transfer fails the bench after 20 s). A raw ping-pong (at most 1 unacknowledged) is
 * shown beside it as the fair peer of LSP (1,1).
 *
 * Only the transfer is timed (`b.start()`/`b.end()`): from the first write until the server has
 * read the last message (LSP), or until the last ack is back (raw UDP). Sockets are made and
 * closed around it. After the bench table, messages/s and MB/s lines are printed (median run;
 * 1 MB = 10^6 payload bytes; LSP also sends JSON, base64 and one Ack per message on the wire).
 *
 * Run: `deno task bench`, or alone:
 * `deno bench --allow-net=127.0.0.1,0.0.0.0 --allow-read bench/lsp/throughput_bench.ts`.
 *
 * @module
 */
import { connect } from "../../src/lsp/client_deno.ts";
import type { LspParams } from "../../src/lsp/params.ts";
import { listen } from "../../src/lsp/server_deno.ts";
import { dataMessage, encodeMessage } from "../../src/lsp/wire.ts";
import { Prng } from "../../src/util/prng.ts";
import { formatRate, type Tally, tally } from "./_report.ts";

/** Payload bytes per message: the LSP maximum. */
const PAYLOAD_BYTES = 1000;
/** Messages per timed iteration. */
const MESSAGES = 2_000;
/** The raw UDP baseline's bound on unacknowledged datagrams. */
const RAW_WINDOW = 64;
/** A stalled transfer fails the bench instead of hanging it. */
const STALL_MS = 20_000;
/** Timed iterations per bench (`n`; Deno adds warm-up runs). */
const ITERATIONS = 6;
const GROUP = "loopback transfer of 2,000 x 1000-byte messages";

const PAYLOAD = Prng.seeded(1).bytes(PAYLOAD_BYTES);
const HOST = "127.0.0.1";

/**
 * The reference defaults (δ 2000 ms) but for the window: an in-flight message is retransmitted
 * at every epoch tick (spec §11.1), so short epochs would add retransmissions to the transfer.
 * A datagram the kernel drops costs up to one epoch and shows in the retransmission count.
 */
function lspBenchParams(window: number): Partial<LspParams> {
  return { windowSize: window, maxUnackedMessages: window };
}

/** What one timed iteration moved. */
interface Transfer {
  /** Milliseconds between `b.start()` and `b.end()`. */
  ms: number;
  /**
   * Data retransmissions (LSP only). With 2 s epochs they mean the kernel dropped a datagram or
   * the transfer ran across an epoch tick; either way the rate suffers.
   */
  retransmitted: number;
}

/** Runs `onStall` after STALL_MS unless cleared. */
function stallGuard(onStall: () => void): { readonly fired: boolean; clear(): void } {
  let fired = false;
  const timer = setTimeout(() => {
    fired = true;
    onStall();
  }, STALL_MS);
  return {
    get fired() {
      return fired;
    },
    clear: () => clearTimeout(timer),
  };
}

/**
 * Streams `count` datagrams from one socket to another, each acknowledged by a 4-byte reply with
 * its sequence number; at most `window` are unacknowledged. Times only the transfer.
 */
async function rawUdpTransfer(
  b: Deno.BenchContext,
  count: number,
  window: number,
): Promise<Transfer> {
  const rx = Deno.listenDatagram({ transport: "udp", hostname: HOST, port: 0 });
  const tx = Deno.listenDatagram({ transport: "udp", hostname: HOST, port: 0 });
  const to = rx.addr as Deno.NetAddr;
  const closeBoth = () => {
    rx.close();
    tx.close();
  };
  const guard = stallGuard(closeBoth);
  try {
    b.start();
    const started = performance.now();
    const receiver = (async () => {
      const buffer = new Uint8Array(2048);
      for (let got = 0; got < count; got++) {
        const [datagram, from] = await rx.receive(buffer);
        if (datagram.length !== PAYLOAD_BYTES) throw new Error("a raw datagram was cut");
        rx.send(datagram.slice(0, 4), from).catch(() => {});
      }
    })();
    const ackBuffer = new Uint8Array(64);
    let sent = 0;
    for (let acked = 0; acked < count; acked++) {
      for (; sent < count && sent - acked < window; sent++) {
        const datagram = PAYLOAD.slice(); // the send may read it after this loop moves on
        new DataView(datagram.buffer).setUint32(0, sent);
        tx.send(datagram, to).catch(() => {});
      }
      await tx.receive(ackBuffer);
    }
    await receiver;
    const ms = performance.now() - started;
    b.end();
    return { ms, retransmitted: 0 };
  } catch (err) {
    if (guard.fired) throw new Error(`Cannot finish the raw UDP transfer in ${STALL_MS} ms`);
    throw err;
  } finally {
    guard.clear();
    if (!guard.fired) closeBoth();
  }
}

/**
 * Connects an LSP client to a fresh server, writes `count` payloads at once (the client queues
 * them) and times until the server has read them all.
 */
async function lspTransfer(
  b: Deno.BenchContext,
  count: number,
  window: number,
): Promise<Transfer> {
  const params = lspBenchParams(window);
  const server = listen(0, { hostname: HOST, params });
  const client = await connect(`${HOST}:${server.port}`, { params, isn: 0 });
  const guard = stallGuard(() => server.closeNow());
  try {
    b.start();
    const started = performance.now();
    for (let i = 0; i < count; i++) client.write(PAYLOAD);
    for (let got = 0; got < count; got++) {
      const { payload } = await server.read();
      if (payload.length !== PAYLOAD_BYTES) throw new Error("an LSP payload was cut");
    }
    const ms = performance.now() - started;
    b.end();
    return { ms, retransmitted: client.stats().lsp.dataRetransmitted };
  } catch (err) {
    if (guard.fired) throw new Error(`Cannot finish the LSP transfer in ${STALL_MS} ms`);
    throw err;
  } finally {
    guard.clear();
    await client.close().catch(() => {});
    server.closeNow();
    await Promise.all([client.done, server.done]);
  }
}

const tallies = new Map<string, Tally>();

/** A bench body that records each iteration's transfer under `name` for the final report. */
function recorded(name: string, run: (b: Deno.BenchContext) => Promise<Transfer>) {
  const t = tally();
  tallies.set(name, t);
  return async (b: Deno.BenchContext) => {
    const { ms, retransmitted } = await run(b);
    t.add({ messages: MESSAGES, ms, retransmitted });
  };
}

Deno.bench({
  name: `raw UDP, window ${RAW_WINDOW}`,
  group: GROUP,
  baseline: true,
  n: ITERATIONS,
  warmup: 1,
  fn: recorded(`raw UDP (window ${RAW_WINDOW})`, (b) => rawUdpTransfer(b, MESSAGES, RAW_WINDOW)),
});

Deno.bench({
  name: "raw UDP, window 1 (ping-pong)",
  group: GROUP,
  n: ITERATIONS,
  warmup: 1,
  fn: recorded("raw UDP (window 1)", (b) => rawUdpTransfer(b, MESSAGES, 1)),
});

for (const window of [1, 8, 64]) {
  Deno.bench({
    name: `LSP window/max-unacked (${window},${window})`,
    group: GROUP,
    n: ITERATIONS,
    warmup: 1,
    fn: recorded(`LSP (${window},${window})`, (b) => lspTransfer(b, MESSAGES, window)),
  });
}

globalThis.addEventListener("unload", () => {
  const wire = encodeMessage(dataMessage(1, 1, PAYLOAD)).length;
  const base = tallies.get(`raw UDP (window ${RAW_WINDOW})`)?.median();
  console.log(
    `\nLoopback throughput, ${PAYLOAD_BYTES}-byte payloads, median of each bench's runs ` +
      `(an LSP Data datagram is ${wire} bytes on the wire, plus one Ack each):\n` +
      [...tallies].map(([name, t]) => formatRate(name, t, PAYLOAD_BYTES, base)).join("\n"),
  );
});
