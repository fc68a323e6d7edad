import assert from "node:assert/strict";
import type { ConnId, StreamAction, StreamCore } from "../../src/core/mod.ts";
import { OutputQueue } from "../../src/core/mod.ts";
import { TcpDriver } from "../../src/net/tcp_driver.ts";

type Seen =
  | { type: "accept"; conn: ConnId; remote: string }
  | { type: "connected"; conn: ConnId }
  | { type: "data"; conn: ConnId; text: string }
  | { type: "eof"; conn: ConnId }
  | { type: "error"; conn: ConnId; reason: string }
  | { type: "tick"; now: number };

/** A scriptable core: records every input; tests push actions into `out`. */
class Recorder implements StreamCore<{ type: "note"; text: string }> {
  next = 1;
  seen: Seen[] = [];
  out = new OutputQueue<StreamAction | { type: "note"; text: string }>();
  echo = false;
  timeoutAt: number | undefined;
  handleAccept(remote: string, _local: string, _now: number): ConnId {
    const conn = this.next++;
    this.seen.push({ type: "accept", conn, remote });
    return conn;
  }
  handleConnected(conn: ConnId): void {
    this.seen.push({ type: "connected", conn });
  }
  handleData(conn: ConnId, bytes: Uint8Array): void {
    this.seen.push({ type: "data", conn, text: new TextDecoder().decode(bytes) });
    if (this.echo) this.out.push({ type: "write", conn, bytes });
  }
  handleEof(conn: ConnId): void {
    this.seen.push({ type: "eof", conn });
    if (this.echo) this.out.push({ type: "close", conn });
  }
  handleError(conn: ConnId, reason: string): void {
    this.seen.push({ type: "error", conn, reason });
  }
  handleTick(now: number): void {
    if (this.timeoutAt !== undefined && now >= this.timeoutAt) {
      this.timeoutAt = undefined;
      this.seen.push({ type: "tick", now });
      this.out.push({ type: "note", text: "ticked" });
    }
  }
  pollAction() {
    return this.out.shift();
  }
  nextTimeout(): number | undefined {
    return this.timeoutAt;
  }
}

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

Deno.test("TcpDriver runs an echo core: accept, data, half-close by the client, close", async () => {
  const server = new Recorder();
  server.echo = true;
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const driver = new TcpDriver({ core: server, listener });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  await conn.write(new TextEncoder().encode("hello"));
  await conn.closeWrite();
  const got: number[] = [];
  const buf = new Uint8Array(64);
  for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
    got.push(...buf.subarray(0, n));
  }
  conn.close();
  assert.equal(new TextDecoder().decode(new Uint8Array(got)), "hello");
  assert.equal(server.seen[0].type, "accept");
  assert.deepEqual(server.seen.slice(-1), [{ type: "eof", conn: 1 }]);
  driver.close();
  await driver.done;
});

Deno.test("TcpDriver dials for a client core, writes, half-closes and reads the echo", async () => {
  const server = new Recorder();
  server.echo = true;
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serverDriver = new TcpDriver({ core: server, listener });
  const client = new Recorder();
  const driver = new TcpDriver({ core: client });
  client.out.push({
    type: "connect",
    conn: 7,
    to: `localhost:${listener.addr.port}`,
    timeoutMs: 2000,
  });
  client.out.push({ type: "write", conn: 7, bytes: new TextEncoder().encode("ab") });
  client.out.push({ type: "shutdown", conn: 7 });
  driver.pump();
  await until(() => client.seen.some((s) => s.type === "eof"), "the echo's end of file");
  const kinds = client.seen.map((s) => s.type);
  assert.deepEqual(kinds, ["connected", "data", "eof"]);
  assert.deepEqual(client.seen[1], { type: "data", conn: 7, text: "ab" });
  driver.close();
  serverDriver.close();
  await Promise.all([driver.done, serverDriver.done]);
});

Deno.test("TcpDriver reports a refused dial and a dial that times out, each on its own id", async () => {
  const free = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = free.addr.port;
  free.close();
  const client = new Recorder();
  const never = () => new Promise<Deno.TcpConn>(() => {});
  let calls = 0;
  const driver = new TcpDriver({
    core: client,
    connect: (o) => (++calls === 1 ? Deno.connect(o) : never()),
  });
  client.out.push({ type: "connect", conn: 1, to: `127.0.0.1:${port}`, timeoutMs: 2000 });
  client.out.push({ type: "connect", conn: 2, to: "127.0.0.1:9", timeoutMs: 30 });
  client.out.push({ type: "connect", conn: 3, to: "not an address", timeoutMs: 30 });
  driver.pump();
  await until(() => client.seen.length === 3, "three errors");
  const byConn = new Map(client.seen.map((s) => [(s as { conn: number }).conn, s]));
  assert.match((byConn.get(1) as { reason: string }).reason, /cannot connect/);
  assert.match((byConn.get(2) as { reason: string }).reason, /within 30 ms/);
  assert.match((byConn.get(3) as { reason: string }).reason, /bad address/);
  assert.equal(driver.stats.connectFailed, 3);
  driver.close();
  await driver.done;
});

Deno.test("TcpDriver fails only the connection whose peer does not read, once its buffer is full", async () => {
  const server = new Recorder();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const driver = new TcpDriver({ core: server, listener, writeBufferBytesMax: 1 << 16 });
  const slow = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const fine = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  await until(() => server.seen.filter((s) => s.type === "accept").length === 2, "two accepts");
  const big = new Uint8Array(1 << 15);
  for (let i = 0; i < 64; i++) server.out.push({ type: "write", conn: 1, bytes: big });
  server.out.push({ type: "write", conn: 2, bytes: new TextEncoder().encode("ok") });
  driver.pump();
  const buf = new Uint8Array(8);
  const n = await fine.read(buf);
  assert.equal(new TextDecoder().decode(buf.subarray(0, n ?? 0)), "ok");
  await until(() => server.seen.some((s) => s.type === "error"), "the slow connection's error");
  assert.deepEqual(server.seen.find((s) => s.type === "error"), {
    type: "error",
    conn: 1,
    reason: "write buffer full",
  });
  assert.equal(driver.connections, 1);
  slow.close();
  fine.close();
  driver.close();
  await driver.done;
});

Deno.test("TcpDriver arms one timer at nextTimeout() and hands the core's own actions out", async () => {
  const core = new Recorder();
  const notes: string[] = [];
  let clock = 1000;
  const driver = new TcpDriver({
    core,
    now: () => clock,
    onAction: (a) => notes.push(a.text),
  });
  core.timeoutAt = 1020;
  driver.pump();
  clock = 1025;
  await until(() => notes.length === 1, "the tick");
  assert.deepEqual(notes, ["ticked"]);
  assert.deepEqual(core.seen, [{ type: "tick", now: 1025 }]);
  driver.close();
  await driver.done;
});

Deno.test("TcpDriver stops on abort: the listener and every connection close, done resolves", async () => {
  const core = new Recorder();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const controller = new AbortController();
  const driver = new TcpDriver({ core, listener, signal: controller.signal });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  await until(() => core.seen.length === 1, "the accept");
  controller.abort();
  await driver.done;
  assert.equal(driver.closed, true);
  assert.equal(await conn.read(new Uint8Array(4)).catch(() => null), null);
  conn.close();
  await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port }));
});

Deno.test("TcpDriver performs a write queued just before a close, then closes", async () => {
  const server = new Recorder();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const driver = new TcpDriver({ core: server, listener });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  await until(() => server.seen.length === 1, "the accept");
  server.out.push({ type: "write", conn: 1, bytes: new TextEncoder().encode("bye") });
  server.out.push({ type: "close", conn: 1 });
  driver.pump();
  const got: number[] = [];
  const buf = new Uint8Array(16);
  for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
    got.push(...buf.subarray(0, n));
  }
  assert.equal(new TextDecoder().decode(new Uint8Array(got)), "bye");
  assert.equal(driver.connections, 0);
  conn.close();
  driver.close();
  await driver.done;
});

/** A recorder that counts every handleTick, due or not. */
class TickCounter extends Recorder {
  ticks: number[] = [];
  override handleTick(now: number): void {
    this.ticks.push(now);
    super.handleTick(now);
  }
}

/** Replaces the global timer functions with a fake that records timers and fires on demand. */
function fakeTimers() {
  const realSet = globalThis.setTimeout;
  const realClear = globalThis.clearTimeout;
  const armed = new Map<number, { fn: () => void; ms: number }>();
  let nextId = 1_000_000;
  let sets = 0;
  let clears = 0;
  globalThis.setTimeout = ((fn: () => void, ms: number) => {
    sets++;
    armed.set(++nextId, { fn, ms });
    return nextId;
  }) as unknown as typeof setTimeout;
  globalThis.clearTimeout = ((id: number) => {
    if (armed.delete(id)) clears++;
  }) as unknown as typeof clearTimeout;
  return {
    get sets() {
      return sets;
    },
    get clears() {
      return clears;
    },
    /** The delays of the timers armed now. */
    delays: () => [...armed.values()].map((t) => t.ms),
    /** Fires every armed timer. */
    fire() {
      const due = [...armed.values()];
      armed.clear();
      for (const t of due) t.fn();
    },
    restore() {
      globalThis.setTimeout = realSet;
      globalThis.clearTimeout = realClear;
    },
  };
}

Deno.test("TcpDriver keeps its one timer while nextTimeout() moves later, and ticks only when due", async () => {
  const timers = fakeTimers();
  try {
    const core = new TickCounter();
    let clock = 0;
    const driver = new TcpDriver({ core, now: () => clock });
    await Promise.resolve(); // the constructor's first pump
    // A deadline per connection: each input moves the core's next timeout a little later.
    for (let i = 0; i < 10; i++) {
      clock = i;
      core.timeoutAt = 1000 + 10 * i;
      driver.pump();
    }
    assert.equal(timers.sets, 1, "one timer for ten later deadlines");
    assert.deepEqual(timers.delays(), [1000]);
    // It fires before the core's timeout: no tick, a timer for the rest.
    clock = 1000;
    timers.fire();
    assert.deepEqual(core.ticks, []);
    assert.deepEqual(timers.delays(), [90]);
    // The core wants no tick for a while: the timer stays (unref'd), nothing is cleared.
    core.timeoutAt = undefined;
    driver.pump();
    assert.equal(timers.clears, 0);
    // An earlier deadline replaces it.
    core.timeoutAt = 1050;
    driver.pump();
    assert.equal(timers.clears, 1);
    assert.deepEqual(timers.delays(), [50]);
    clock = 1050;
    timers.fire();
    assert.deepEqual(core.ticks, [1050]);
    assert.deepEqual(core.seen, [{ type: "tick", now: 1050 }]);
    driver.close();
    await driver.done;
  } finally {
    timers.restore();
  }
});

Deno.test("TcpDriver reuses read buffers: each connection reads only its own bytes", async () => {
  const server = new Recorder();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const driver = new TcpDriver({ core: server, listener, readBytes: 64 });
  const texts = ["a long first message", "short", "x"];
  for (const [i, text] of texts.entries()) {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
    await conn.write(new TextEncoder().encode(text));
    conn.close();
    await until(() => server.seen.some((s) => s.type === "eof" && s.conn === i + 1), "the eof");
  }
  const data = server.seen.filter((s) => s.type === "data").map((s) => [s.conn, s.text]);
  assert.deepEqual(data, texts.map((text, i) => [i + 1, text]));
  driver.close();
  await driver.done;
});

Deno.test("TcpDriver gives a core a copy of each read, or with lendReads a view of its read buffer", async () => {
  for (const lendReads of [false, true]) {
    const server = new Recorder();
    const kept: Uint8Array[] = [];
    const record = server.handleData.bind(server);
    server.handleData = (conn, bytes) => {
      kept.push(bytes);
      record(conn, bytes);
    };
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const driver = new TcpDriver({ core: server, listener, readBytes: 64, lendReads });
    const texts = ["first", "second"];
    for (const [i, text] of texts.entries()) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
      await conn.write(new TextEncoder().encode(text));
      conn.close();
      await until(() => server.seen.some((s) => s.type === "eof" && s.conn === i + 1), "the eof");
    }
    // What the core saw during each call is right either way.
    const data = server.seen.filter((s) => s.type === "data").map((s) => s.text);
    assert.deepEqual(data, texts);
    if (lendReads) {
      // Views of the one pooled read buffer: valid only during the call.
      assert.equal(kept[0].buffer, kept[1].buffer);
    } else {
      // Copies the core may keep.
      assert.notEqual(kept[0].buffer, kept[1].buffer);
      assert.deepEqual(kept.map((b) => new TextDecoder().decode(b)), texts);
    }
    driver.close();
    await driver.done;
  }
});

Deno.test("TcpDriver reads no more from a connection the core closed on its data", async () => {
  // A read left pending is cancelled by the close: an error per connection (a tracker answers
  // and closes on the request's read, thousands of times a second). Before, the driver read again.
  let reads = 0;
  let closed = false;
  const written: string[] = [];
  let cancel = () => {};
  const conn = {
    localAddr: { transport: "tcp", hostname: "127.0.0.1", port: 40000 },
    read(buf: Uint8Array): Promise<number | null> {
      if (++reads === 1) {
        buf.set(new TextEncoder().encode("hi"));
        return Promise.resolve(2);
      }
      return new Promise((_, reject) => {
        cancel = () => reject(new Deno.errors.BadResource("Bad resource ID"));
      });
    },
    write(bytes: Uint8Array): Promise<number> {
      written.push(new TextDecoder().decode(bytes));
      return Promise.resolve(bytes.length);
    },
    close() {
      closed = true;
      cancel();
    },
  } as unknown as Deno.TcpConn;
  class Answerer extends Recorder {
    override handleData(id: ConnId, bytes: Uint8Array): void {
      super.handleData(id, bytes);
      this.out.push({ type: "write", conn: id, bytes: new TextEncoder().encode("bye") });
      this.out.push({ type: "close", conn: id });
    }
  }
  const core = new Answerer();
  const driver = new TcpDriver({ core, connect: () => Promise.resolve(conn) });
  core.out.push({ type: "connect", conn: 1, to: "127.0.0.1:9", timeoutMs: 1000 });
  driver.pump();
  await until(() => closed, "the close");
  await driver.flushed();
  assert.deepEqual(written, ["bye"]);
  assert.equal(reads, 1);
  assert.deepEqual(core.seen.map((s) => s.type), ["connected", "data"]);
  driver.close();
  await driver.done;
});

Deno.test("TcpDriver leaves its timer unref'd while its listener accepts, and refs it after", async () => {
  // Before, a core whose only connection came and went (a deadline while it was open, none after)
  // had the timer ref'd and unref'd again with every connection.
  const timers = fakeTimers();
  const realRef = Deno.refTimer, realUnref = Deno.unrefTimer;
  let refs = 0, unrefs = 0;
  Deno.refTimer = () => void refs++;
  Deno.unrefTimer = () => void unrefs++;
  try {
    const core = new Recorder();
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const driver = new TcpDriver({ core, listener, now: () => 0 });
    await Promise.resolve(); // the constructor's first pump
    for (let i = 0; i < 10; i++) {
      core.timeoutAt = 1000 + i;
      driver.pump();
      core.timeoutAt = undefined;
      driver.pump();
    }
    assert.equal(timers.sets, 1);
    assert.deepEqual([refs, unrefs], [0, 1]); // unref'd once, when armed
    // The listener closes under it: no accept keeps the process alive, the timer must.
    core.timeoutAt = 2000;
    timers.restore(); // real timers to wait with (the armed one, fake, stays armed)
    listener.close();
    await until(() => refs === 1, "the timer ref'd");
    assert.equal(unrefs, 1);
    driver.close();
    await driver.done;
  } finally {
    Deno.refTimer = realRef;
    Deno.unrefTimer = realUnref;
    timers.restore();
  }
});
