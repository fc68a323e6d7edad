/**
 * LRP2P on loopback (issue 12, item 7), each figure beside baselines measured in the same run:
 *
 * - **one-way transfer of 100 MB** (`deno task bench:lrp2p`; 20 MB in the all-benchmarks run
 *   `deno task bench`, to keep it short; `LRP2P_BENCH_MB` sets it) in MB/s of application bytes:
 *   baseline (a) Deno's raw UDP payload rate, a sender blasting 1,368-byte datagrams (the largest
 *   LRP2P datagram) at a receiver that counts them (the rate of what arrives; UDP itself loses what
 *   the receiver cannot take); (b) Deno TCP on loopback, 64 KiB writes; then LRP2P with no loss,
 *   and with 1% and 5% of the datagrams dropped each way by the UDP driver's fault injection
 *   (`dropRate`, a middlebox in the process). Every transfer's bytes are counted to the last.
 * - **handshakes per second**: sequential `connectTo`s to one socket (rate limits raised).
 * - **memory per connection**: heap used by 500 idle open connections (both ends in this process,
 *   so each counts its two ends), divided by 500.
 *
 * The rates and figures are printed after the table (the table's times include setup). Run:
 * `deno task bench:lrp2p`, or
 * `deno bench --allow-net=127.0.0.1 --allow-env=LRP2P_BENCH_MB --v8-flags=--expose-gc bench/lrp2p_bench.ts`.
 *
 * @module
 */
import { type LrpConnection, type PeerSocket, socketListen } from "../src/lrp2p/socket_deno.ts";

const MB = 1_000_000;
const SIZE = Math.round(Number(Deno.env.get("LRP2P_BENCH_MB") ?? "20") * MB);
const HOST = "127.0.0.1";
const DATAGRAM = 1368;
const CHUNK = 64 * 1024;
const HANDSHAKES = 200;
const IDLE_CONNS = 500;
const GROUP = `one-way ${SIZE / MB} MB on loopback`;
const BASELINE = "raw UDP, 1368-byte datagrams blasted and counted";

/** MB/s per bench name, and other figures, printed at the end. */
const rates = new Map<string, number[]>();
const figures: string[] = [];

function record(name: string, bytes: number, ms: number): void {
  const list = rates.get(name) ?? [];
  list.push(bytes / MB / (ms / 1000));
  rates.set(name, list);
}

const payload = new Uint8Array(CHUNK).map((_, i) => (i * 31) & 0xff);

/**
 * Blasts SIZE bytes as 1368-byte datagrams at a receiver in this process that counts them. The
 * sender keeps at most WINDOW datagrams ahead of the receiver's count (both ends share one event
 * loop: an unbounded blast starves the receiver, and the kernel drops almost everything); a wait
 * gives up after 20 ms, so lost datagrams only cost that. The rate is what arrived over the time.
 */
async function rawUdp(): Promise<void> {
  const WINDOW = 128;
  const rx = Deno.listenDatagram({ transport: "udp", hostname: HOST, port: 0 });
  const tx = Deno.listenDatagram({ transport: "udp", hostname: HOST, port: 0 });
  const to = rx.addr as Deno.NetAddr;
  const count = Math.ceil(SIZE / DATAGRAM);
  const datagram = payload.subarray(0, DATAGRAM);
  let got = 0, arrived = 0, last = 0;
  let wake: (() => void) | undefined;
  const receiving = (async () => {
    const buf = new Uint8Array(2048);
    for (;;) {
      try {
        const [d] = await rx.receive(buf);
        got += d.length;
        arrived++;
        last = performance.now();
        wake?.();
      } catch {
        return;
      }
    }
  })();
  const start = performance.now();
  for (let sent = 0; sent < count;) {
    if (sent - arrived >= WINDOW) {
      const caughtUp = new Promise<void>((r) => wake = r);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<boolean>((r) => timer = setTimeout(() => r(true), 20));
      const timedOut = await Promise.race([caughtUp.then(() => false), late]);
      clearTimeout(timer);
      wake = undefined;
      if (timedOut) arrived = sent - WINDOW / 2; // count the missing ones as lost
      continue;
    }
    const burst = Math.min(32, count - sent);
    const batch: Promise<number>[] = [];
    for (let j = 0; j < burst; j++) batch.push(tx.send(datagram, to));
    sent += burst;
    await Promise.all(batch);
  }
  await new Promise((r) => setTimeout(r, 200));
  tx.close();
  rx.close();
  await receiving;
  if (got === 0) throw new Error("raw UDP: nothing arrived");
  record(BASELINE, got, last - start);
  figures.push(
    `raw UDP: ${(got / DATAGRAM).toFixed(0)} of ${count} datagrams arrived (${
      (100 * got / (count * DATAGRAM)).toFixed(1)
    }%)`,
  );
}

async function tcp(): Promise<void> {
  const listener = Deno.listen({ hostname: HOST, port: 0 });
  const start = performance.now();
  const accepting = (async () => {
    const conn = await listener.accept();
    const buf = new Uint8Array(CHUNK);
    let got = 0;
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      got += n;
    }
    conn.close();
    return got;
  })();
  const conn = await Deno.connect({ hostname: HOST, port: (listener.addr as Deno.NetAddr).port });
  for (let sent = 0; sent < SIZE; sent += CHUNK) {
    const n = Math.min(CHUNK, SIZE - sent);
    let at = 0;
    while (at < n) at += await conn.write(payload.subarray(at, n));
  }
  conn.close();
  const got = await accepting;
  const ms = performance.now() - start;
  listener.close();
  if (got !== SIZE) throw new Error(`TCP: ${got} of ${SIZE} bytes`);
  record("Deno TCP, 64 KiB writes", got, ms);
}

async function lrp(name: string, dropRate: number): Promise<void> {
  // The loss is added at the client's socket only, on what it sends and what it receives, so each
  // direction loses `dropRate` of its datagrams (at both sockets, each direction would lose twice).
  const opts = { endpoint: { timings: { closeMs: 3000, lingerMs: 100 } } };
  const server = await socketListen(HOST, 0, opts);
  const client = await socketListen(HOST, 0, { ...opts, dropRate });
  try {
    const [s, c] = await Promise.all([server.accept(), client.connectTo(HOST, server.addr.port)]);
    const start = performance.now();
    let end = 0;
    const reading = (async () => {
      const buf = new Uint8Array(CHUNK);
      let got = 0;
      for (;;) {
        const n = await s.read(buf);
        if (n === null) break;
        got += n;
      }
      end = performance.now();
      await s.close();
      return got;
    })();
    for (let sent = 0; sent < SIZE; sent += CHUNK) {
      await c.write(payload.subarray(0, Math.min(CHUNK, SIZE - sent)));
    }
    await c.close();
    const got = await reading;
    if (got !== SIZE) throw new Error(`${name}: ${got} of ${SIZE} bytes`);
    record(name, got, end - start);
    const arq = client._endpoint.conn(c.connId)?.arq;
    if (arq) figures.push(`${name}: ${JSON.stringify(arq)}`);
  } finally {
    await client.close();
    await server.close();
  }
}

const RECEIVER = new URL("./_lrp2p_receiver.ts", import.meta.url).pathname;
const CONFIG = new URL("../deno.json", import.meta.url).pathname;
const APART = `one-way ${SIZE / MB} MB on loopback, the receiver in another process`;
const APART_BASELINE = "raw UDP, 1368-byte datagrams, receiver apart";

/** Starts `_lrp2p_receiver.ts` in its own process; its port, then its `bytes ms` at the end. */
async function receiverProcess(mode: "udp" | "ack" | "lrp2p") {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--allow-net=127.0.0.1", "--config", CONFIG, RECEIVER, mode],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).values();
  let buffered = "";
  const nextLine = async (): Promise<string> => {
    while (!buffered.includes("\n")) {
      const { value, done } = await lines.next();
      if (done) throw new Error(`the ${mode} receiver ended early`);
      buffered += value;
    }
    const at = buffered.indexOf("\n");
    const line = buffered.slice(0, at);
    buffered = buffered.slice(at + 1);
    return line;
  };
  const port = Number(await nextLine());
  const result = (async () => {
    const [bytes, ms] = (await nextLine()).split(" ").map(Number);
    await child.status;
    return { bytes, ms };
  })();
  return { port, result };
}

async function rawUdpApart(): Promise<void> {
  const { port, result } = await receiverProcess("udp");
  const tx = Deno.listenDatagram({ transport: "udp", hostname: HOST, port: 0 });
  const to = { transport: "udp" as const, hostname: HOST, port };
  const datagram = payload.subarray(0, DATAGRAM);
  const count = Math.ceil(SIZE / DATAGRAM);
  for (let sent = 0; sent < count; sent += 32) {
    const batch: Promise<number>[] = [];
    for (let j = 0; j < 32; j++) batch.push(tx.send(datagram, to));
    await Promise.all(batch);
  }
  for (let i = 0; i < 5; i++) await tx.send(new Uint8Array(1), to); // the end
  tx.close();
  const { bytes, ms } = await result;
  record(APART_BASELINE, bytes, ms);
  figures.push(
    `raw UDP apart: ${(bytes / DATAGRAM).toFixed(0)} of ${count} datagrams arrived (${
      (100 * bytes / (count * DATAGRAM)).toFixed(1)
    }%)`,
  );
}

const ACK_FLOOR = "UDP, one 46-byte answer per datagram, no crypto, receiver apart";

/**
 * LRP2P's datagram pattern and nothing else: 1368-byte datagrams, each answered by a 46-byte one
 * (an ACK's size; §6.2 asks one per data segment), at most 64 unanswered, sent in batches like the
 * raw baseline, with no crypto, no ARQ and no copies. What LRP2P does per segment on top of this
 * can only slow it down, so this is the ceiling of any implementation of the wire protocol in Deno.
 */
async function udpAckApart(): Promise<void> {
  const WINDOW = 64;
  const { port, result } = await receiverProcess("ack");
  const tx = Deno.listenDatagram({ transport: "udp", hostname: HOST, port: 0 });
  const to = { transport: "udp" as const, hostname: HOST, port };
  const datagram = payload.subarray(0, DATAGRAM);
  const count = Math.ceil(SIZE / DATAGRAM);
  let answered = 0;
  let wake: (() => void) | undefined;
  const answers = (async () => {
    const buf = new Uint8Array(2048);
    for (;;) {
      try {
        await tx.receive(buf);
      } catch {
        return;
      }
      answered++;
      wake?.();
    }
  })();
  for (let sent = 0; sent < count;) {
    if (sent - answered >= WINDOW) {
      // a lost answer costs at most 20 ms
      let timer: ReturnType<typeof setTimeout> | undefined;
      const woken = new Promise<void>((r) => wake = r);
      const late = new Promise<void>((r) => timer = setTimeout(r, 20));
      await Promise.race([woken, late]);
      clearTimeout(timer);
      if (sent - answered >= WINDOW) answered = sent - WINDOW + 1;
      continue;
    }
    const n = Math.min(32, count - sent, WINDOW - (sent - answered));
    const batch: Promise<number>[] = [];
    for (let j = 0; j < n; j++) batch.push(tx.send(datagram, to));
    await Promise.all(batch);
    sent += n;
  }
  for (let i = 0; i < 5; i++) await tx.send(new Uint8Array(1), to); // the end
  const { bytes, ms } = await result;
  tx.close();
  await answers;
  record(ACK_FLOOR, bytes, ms);
  figures.push(
    `one answer per datagram, apart: ${
      (bytes / DATAGRAM).toFixed(0)
    } of ${count} datagrams arrived`,
  );
}

async function lrpApart(): Promise<void> {
  const { port, result } = await receiverProcess("lrp2p");
  const client = await socketListen(HOST, 0, {
    endpoint: { timings: { closeMs: 3000, lingerMs: 100 } },
  });
  try {
    const c = await client.connectTo(HOST, port);
    for (let sent = 0; sent < SIZE; sent += CHUNK) {
      await c.write(payload.subarray(0, Math.min(CHUNK, SIZE - sent)));
    }
    await c.close();
    const { bytes, ms } = await result;
    if (bytes !== SIZE) throw new Error(`LRP2P apart: ${bytes} of ${SIZE} bytes`);
    record("LRP2P, receiver apart", bytes, ms);
    const arq = client._endpoint.conn(c.connId)?.arq;
    if (arq) figures.push(`LRP2P, receiver apart: ${JSON.stringify(arq)}`);
  } finally {
    await client.close();
  }
}

Deno.bench({ name: BASELINE, group: GROUP, baseline: true, n: 1, warmup: 0, fn: rawUdp });
Deno.bench({ name: "Deno TCP, 64 KiB writes", group: GROUP, n: 1, warmup: 0, fn: tcp });
for (const [name, drop] of [["LRP2P", 0], ["LRP2P, 1% loss", 0.01], ["LRP2P, 5% loss", 0.05]]) {
  Deno.bench({
    name: name as string,
    group: GROUP,
    n: 1,
    warmup: 0,
    fn: async () => await lrp(name as string, drop as number),
  });
}

Deno.bench({
  name: APART_BASELINE,
  group: APART,
  baseline: true,
  n: 1,
  warmup: 0,
  fn: rawUdpApart,
});
Deno.bench({ name: ACK_FLOOR, group: APART, n: 1, warmup: 0, fn: udpAckApart });
Deno.bench({ name: "LRP2P, receiver apart", group: APART, n: 1, warmup: 0, fn: lrpApart });

const fast = {
  endpoint: {
    handshakesPerIp: 1e9,
    handshakesTotal: 1e9,
    backlog: 1 << 16,
    maxConnections: 1 << 16,
  },
};

Deno.bench({
  name: `${HANDSHAKES} handshakes, one after the other`,
  group: "handshakes",
  n: 1,
  warmup: 0,
  fn: async () => {
    const server = await socketListen(HOST, 0, fast);
    const client = await socketListen(HOST, 0, fast);
    try {
      const start = performance.now();
      for (let i = 0; i < HANDSHAKES; i++) {
        await Promise.all([server.accept(), client.connectTo(HOST, server.addr.port)]);
      }
      const ms = performance.now() - start;
      figures.push(`handshakes: ${(HANDSHAKES / (ms / 1000)).toFixed(0)} per second`);
    } finally {
      await client.close();
      await server.close();
    }
  },
});

Deno.bench({
  name: `${IDLE_CONNS} idle connections (memory)`,
  group: "memory",
  n: 1,
  warmup: 0,
  fn: async () => {
    const gc = (globalThis as { gc?: () => void }).gc;
    const heap = () => (gc?.(), Deno.memoryUsage().heapUsed);
    const sockets: PeerSocket[] = [];
    const conns: LrpConnection[] = [];
    const server = await socketListen(HOST, 0, fast);
    const client = await socketListen(HOST, 0, fast);
    sockets.push(server, client);
    try {
      const before = heap();
      for (let i = 0; i < IDLE_CONNS; i += 50) {
        const batch = await Promise.all(
          Array.from({ length: 50 }, () => client.connectTo(HOST, server.addr.port)),
        );
        conns.push(...batch);
        for (let j = 0; j < 50; j++) conns.push(await server.accept());
      }
      await new Promise((r) => setTimeout(r, 300)); // message 3 repeats, first timers
      const after = heap();
      figures.push(
        `memory: ${((after - before) / IDLE_CONNS / 1024).toFixed(1)} KiB of heap per idle ` +
          `connection (both ends) over ${IDLE_CONNS}${gc ? "" : " (no --expose-gc: noisy)"}`,
      );
    } finally {
      for (const s of sockets) await s.close();
    }
  },
});

globalThis.addEventListener("unload", () => {
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const lines = [`\n${GROUP} (MB/s of application bytes):`];
  for (const [baseline, apart] of [[BASELINE, false], [APART_BASELINE, true]] as const) {
    const base = rates.get(baseline);
    const baseRate = base?.length ? median(base) : undefined;
    if (apart) lines.push(`${APART} (MB/s of application bytes):`);
    for (const [name, r] of rates) {
      if (name.endsWith("apart") !== apart) continue;
      const m = median(r);
      const ratio = baseRate ? ` (${(m / baseRate).toFixed(2)}× raw UDP)` : "";
      lines.push(`  ${name.padEnd(50)} ${m.toFixed(1).padStart(8)} MB/s${ratio}`);
    }
  }
  lines.push(...[...new Set(figures)].map((f) => `  ${f}`));
  console.log(lines.join("\n"));
});
