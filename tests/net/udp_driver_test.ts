import assert from "node:assert/strict";
import { UdpDriver } from "../../src/net/udp_driver.ts";
import type { DatagramCore, Transmit } from "../../src/core/mod.ts";
import { formatHostPort, parseHostPort } from "../../src/net/hostport.ts";
import { addrKey, resolveHostPort } from "../../src/net/resolve.ts";

/** Echoes every datagram; also emits one "tick" datagram to `tickTo` at each due timeout. */
class EchoCore implements DatagramCore {
  out: Transmit[] = [];
  seen: { from: string; text: string }[] = [];
  ticks = 0;
  next: number | undefined;
  constructor(readonly tickEveryMs?: number, readonly tickTo?: string) {}
  handleDatagram(from: string, bytes: Uint8Array, now: number): void {
    this.seen.push({ from, text: new TextDecoder().decode(bytes) });
    this.out.push({ to: from, bytes });
    if (this.tickEveryMs && this.next === undefined) this.next = now + this.tickEveryMs;
  }
  handleTick(now: number): void {
    if (this.next === undefined || now < this.next) return;
    this.ticks++;
    if (this.tickTo) this.out.push({ to: this.tickTo, bytes: new TextEncoder().encode("tick") });
    this.next = this.ticks < 3 ? now + this.tickEveryMs! : undefined;
  }
  pollTransmit(): Transmit | undefined {
    return this.out.shift();
  }
  nextTimeout(): number | undefined {
    return this.next;
  }
}

async function receiveText(sock: Deno.DatagramConn, ms = 2000): Promise<string> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const [bytes] = await Promise.race([
      sock.receive(),
      new Promise<never>((_, reject) => timer = setTimeout(() => reject(new Error("timeout")), ms)),
    ]);
    return new TextDecoder().decode(bytes);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("UdpDriver feeds datagrams to the core and sends its answers back", async () => {
  const core = new EchoCore();
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  let progress = 0;
  const driver = new UdpDriver({ socket, core, onProgress: () => progress++ });
  const client = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    await client.send(new TextEncoder().encode("hello"), driver.addr);
    assert.equal(await receiveText(client), "hello");
    assert.equal(core.seen[0].from, addrKey(client.addr));
    assert.ok(progress > 0);
    assert.equal(driver.stats.received, 1);
    assert.equal(driver.stats.sent, 1);
  } finally {
    client.close();
    driver.close();
    await driver.done;
  }
});

Deno.test("UdpDriver runs the core's timer work when nextTimeout() comes due", async () => {
  const client = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const core = new EchoCore(20, addrKey(client.addr));
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const driver = new UdpDriver({ socket, core });
  try {
    await client.send(new TextEncoder().encode("x"), driver.addr);
    assert.equal(await receiveText(client), "x");
    for (let i = 0; i < 3; i++) assert.equal(await receiveText(client), "tick");
    assert.equal(core.ticks, 3);
  } finally {
    client.close();
    driver.close();
    await driver.done;
  }
});

Deno.test("UdpDriver drops the configured fraction of reads and writes", async () => {
  const core = new EchoCore();
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const driver = new UdpDriver({ socket, core, readDropRate: 1 });
  const client = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    for (let i = 0; i < 5; i++) await client.send(new Uint8Array([i]), driver.addr);
    for (let i = 0; i < 50 && driver.stats.readDropped < 5; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(driver.stats.readDropped, 5);
    assert.equal(core.seen.length, 0);
  } finally {
    client.close();
    driver.close();
    await driver.done;
  }
  const core2 = new EchoCore();
  const socket2 = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const driver2 = new UdpDriver({ socket: socket2, core: core2, writeDropRate: 1 });
  const client2 = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    await client2.send(new Uint8Array([1]), driver2.addr);
    for (let i = 0; i < 50 && driver2.stats.writeDropped < 1; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(driver2.stats.writeDropped, 1);
    assert.equal(driver2.stats.sent, 0);
  } finally {
    client2.close();
    driver2.close();
    await driver2.done;
  }
});

Deno.test("UdpDriver stops on abort and closes its socket", async () => {
  const controller = new AbortController();
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const driver = new UdpDriver({ socket, core: new EchoCore(), signal: controller.signal });
  const port = driver.addr.port;
  controller.abort();
  await driver.done;
  assert.ok(driver.closed);
  const again = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port });
  again.close();
});

Deno.test("parseHostPort() accepts v4, bracketed and bare v6, names; rejects garbage", () => {
  assert.deepEqual(parseHostPort("10.0.0.1:8333"), { hostname: "10.0.0.1", port: 8333 });
  assert.deepEqual(parseHostPort("[2001:db8::1]:8333"), { hostname: "2001:db8::1", port: 8333 });
  assert.deepEqual(parseHostPort("2001:db8::1:8333"), { hostname: "2001:db8::1", port: 8333 });
  assert.deepEqual(parseHostPort("lab-1.example:7"), { hostname: "lab-1.example", port: 7 });
  for (const bad of ["", ":1", "h:", "h:65536", "h:123456", "[zz]:1", "a b:1", "h:-1", "[::1]"]) {
    assert.equal(parseHostPort(bad), undefined, bad);
  }
  assert.equal(formatHostPort("2001:db8::1", 1), "[2001:db8::1]:1");
});

Deno.test("resolveHostPort() keeps IP literals and maps localhost to 127.0.0.1", async () => {
  assert.equal(await resolveHostPort("127.0.0.1:1"), "127.0.0.1:1");
  assert.equal(await resolveHostPort("[::1]:1"), "[::1]:1");
  assert.equal(await resolveHostPort("localhost:9999"), "127.0.0.1:9999");
  await assert.rejects(resolveHostPort("nonsense"), TypeError);
});

/**
 * A DatagramConn whose sends complete only when the test says so; receive waits until close.
 * Enough of the interface for UdpDriver.
 */
class HeldSendSocket {
  sends: { bytes: Uint8Array; done: () => void }[] = [];
  #closed: (() => void) | undefined;
  readonly addr: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port: 9 };
  send(bytes: Uint8Array, _to: Deno.Addr): Promise<number> {
    return new Promise((resolve) => this.sends.push({ bytes, done: () => resolve(bytes.length) }));
  }
  receive(): Promise<[Uint8Array, Deno.Addr]> {
    return new Promise((_, reject) => this.#closed = () => reject(new Deno.errors.BadResource()));
  }
  close(): void {
    this.#closed?.();
  }
}

Deno.test("UdpDriver sends one datagram at a time, in the core's order (Deno's sends started together may leave in any order)", async () => {
  const core = new EchoCore();
  const socket = new HeldSendSocket();
  const driver = new UdpDriver({ socket: socket as unknown as Deno.DatagramConn, core });
  try {
    for (const text of ["a", "b", "c"]) {
      core.out.push({ to: "127.0.0.1:7", bytes: new TextEncoder().encode(text) });
    }
    driver.pump();
    assert.equal(socket.sends.length, 1); // b and c wait for a's send to complete
    assert.equal(driver.stats.sent, 3);
    for (const expected of ["a", "b", "c"]) {
      const s = socket.sends.shift()!;
      assert.equal(new TextDecoder().decode(s.bytes), expected);
      s.done();
      await new Promise((r) => setTimeout(r, 0));
    }
    assert.equal(socket.sends.length, 0);
  } finally {
    driver.close();
    await driver.done;
  }
});

Deno.test("UdpDriver bounds the datagrams waiting for the socket and counts the ones it drops", async () => {
  const core = new EchoCore();
  const socket = new HeldSendSocket();
  const driver = new UdpDriver({ socket: socket as unknown as Deno.DatagramConn, core });
  try {
    for (let i = 0; i < 10_000; i++) core.out.push({ to: "127.0.0.1:7", bytes: new Uint8Array(1) });
    driver.pump(); // the first send never completes: everything else waits
    assert.equal(driver.stats.sent, 8192);
    assert.equal(driver.stats.sendErrors, 10_000 - 8192);
  } finally {
    driver.close();
    await driver.done;
  }
});

Deno.test("UdpDriver keeps its timer while the core's deadline only moves later", async () => {
  const core = new EchoCore(1_000); // a deadline 1 s after each datagram, moving later each time
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const real = globalThis.setTimeout;
  let timers = 0;
  globalThis.setTimeout = ((fn: () => void, ms?: number) => {
    if (ms !== undefined && ms >= 500 && ms <= 1000) timers++; // the driver's, not receiveText's 2 s
    return real(fn, ms);
  }) as typeof setTimeout;
  const driver = new UdpDriver({ socket, core });
  const client = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    for (let i = 0; i < 20; i++) {
      core.next = undefined; // each datagram sets a new, later deadline
      await client.send(new TextEncoder().encode(`d${i}`), driver.addr);
      await receiveText(client);
    }
    assert.equal(core.seen.length, 20);
    assert.ok(timers <= 2, `${timers} timers armed for 20 later deadlines`);
  } finally {
    globalThis.setTimeout = real;
    client.close();
    driver.close();
    await driver.done;
  }
});

Deno.test("UdpDriver gives the core a copy of each datagram, or with lendReads a view of its one receive buffer", async () => {
  for (const lendReads of [false, true]) {
    const core = new EchoCore();
    const buffers: ArrayBufferLike[] = [];
    const handle = core.handleDatagram.bind(core);
    core.handleDatagram = (from, bytes, now) => {
      buffers.push(bytes.buffer);
      handle(from, bytes.slice(), now); // the echo is sent later: it needs a copy of a lent view
    };
    const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    const driver = new UdpDriver({ socket, core, lendReads });
    const client = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    try {
      for (const text of ["one", "two", "three"]) {
        await client.send(new TextEncoder().encode(text), driver.addr);
        assert.equal(await receiveText(client), text);
      }
      assert.deepEqual(core.seen.map((s) => s.text), ["one", "two", "three"]);
      assert.equal(new Set(buffers).size, lendReads ? 1 : 3, `lendReads ${lendReads}`);
    } finally {
      client.close();
      driver.close();
      await driver.done;
    }
  }
});

Deno.test("UdpDriver counts a send to an address that is not one as an error, each time, and sends the rest", async () => {
  const core = new EchoCore();
  const socket = new HeldSendSocket();
  const driver = new UdpDriver({ socket: socket as unknown as Deno.DatagramConn, core });
  try {
    for (const to of ["nonsense", "127.0.0.1:7", "nonsense", "127.0.0.1:7"]) {
      core.out.push({ to, bytes: new TextEncoder().encode(to) });
    }
    driver.pump();
    assert.equal(driver.stats.sendErrors, 2);
    assert.equal(driver.stats.sent, 2);
    for (let i = 0; i < 2; i++) {
      const s = socket.sends.shift()!;
      assert.equal(new TextDecoder().decode(s.bytes), "127.0.0.1:7");
      s.done();
      await new Promise((r) => setTimeout(r, 0));
    }
  } finally {
    driver.close();
    await driver.done;
  }
});
