/**
 * Run by `retention_test.ts` with `--v8-flags=--expose-gc`: pushes connections through a long-lived
 * table owner (the TCP driver, the tracker core, or a plain `Map` as the control), then runs two
 * young-generation GCs and prints how many heap bytes the finished connections still hold.
 *
 * A finished connection must not outlive young GCs: a table whose old storage keeps pointing to
 * it (a churning `Map` or `Set` in the old generation does) gets every connection's objects
 * promoted, and at thousands of connections a second the young GCs take milliseconds.
 *
 * Usage: `deno run --v8-flags=--expose-gc _retention_fixture.ts driver|tracker|map`.
 */
import type { ConnId, StreamAction, StreamCore } from "../../src/core/mod.ts";
import { TcpDriver } from "../../src/net/tcp_driver.ts";
import { Part1ServerCore } from "../../src/tracker/part1/server_core.ts";

/** Connections per run, and how many are open at once. */
const CONNECTIONS = 2000;
const WAVE = 16;

const gc = (globalThis as unknown as { gc: (o?: { type: string }) => void }).gc;

/**
 * Heap bytes still used after `run(CONNECTIONS)` and two young-generation GCs, measured after a
 * warm-up `run(WAVE * 4)` (and two full GCs unless `warm` is false).
 */
async function retainedBy(run: (n: number) => unknown, warm = true): Promise<number> {
  await run(WAVE * 4);
  if (warm) {
    gc();
    gc();
  }
  const before = Deno.memoryUsage().heapUsed;
  await run(CONNECTIONS);
  gc({ type: "minor" });
  gc({ type: "minor" });
  return Deno.memoryUsage().heapUsed - before;
}

/** Young objects that only a connection points to (about 4 KiB). */
function payload(): { i: number }[] {
  return Array.from({ length: 128 }, (_, i) => ({ i }));
}

/** A core that dials `WAVE` connections at a time and closes each at its end of file. */
class Dialer implements StreamCore {
  #next = 1;
  readonly #out: StreamAction[] = [];
  closed = 0;
  errors: string[] = [];
  wake = () => {};
  dial(): void {
    this.#out.push({ type: "connect", conn: this.#next++, to: "127.0.0.1:9", timeoutMs: 10_000 });
  }
  handleAccept(): ConnId {
    throw new Error("no listener");
  }
  handleConnected(): void {}
  handleData(): void {}
  handleEof(conn: ConnId): void {
    this.#out.push({ type: "close", conn });
    this.closed++;
    this.wake();
  }
  handleError(_conn: ConnId, reason: string): void {
    this.errors.push(reason);
  }
  handleTick(): void {}
  pollAction(): StreamAction | undefined {
    return this.#out.shift();
  }
  nextTimeout(): number | undefined {
    return undefined;
  }
}

/** A connection that ends at once, holding young objects. */
function fakeConn(): Deno.TcpConn {
  const held = payload();
  return {
    held,
    localAddr: { transport: "tcp", hostname: "127.0.0.1", port: 40000 },
    read: () => Promise.resolve(null),
    write: (b: Uint8Array) => Promise.resolve(b.length),
    closeWrite: () => Promise.resolve(),
    close: () => {},
    setNoDelay: () => {},
  } as unknown as Deno.TcpConn;
}

async function driverRun(warm: boolean): Promise<void> {
  const core = new Dialer();
  const driver = new TcpDriver({ core, connect: () => Promise.resolve(fakeConn()) });
  const run = async (n: number) => {
    for (let done = 0; done < n; done += WAVE) {
      const target = core.closed + WAVE;
      for (let i = 0; i < WAVE; i++) core.dial();
      await new Promise<void>((resolve) => {
        core.wake = () => core.closed >= target && resolve();
        driver.pump();
      });
      await driver.flushed();
    }
  };
  const retained = await retainedBy(run, warm);
  if (core.errors.length > 0) throw new Error(core.errors.join("; "));
  driver.close();
  await driver.done;
  console.log(JSON.stringify({ retained }));
}

async function trackerRun(): Promise<void> {
  const core = new Part1ServerCore({ lingerMs: 1000 });
  const te = new TextEncoder();
  const request = te.encode("REGISTER");
  let now = 0;
  const run = (n: number) => {
    for (let done = 0; done < n; done += WAVE) {
      const ids: ConnId[] = [];
      // Each remote address is its own young string (about 4 KiB), held by the connection.
      for (let i = 0; i < WAVE; i++) {
        const remote = te.encode(`10.0.0.1:${"1".repeat(4000)}${done + i}`);
        ids.push(core.handleAccept(new TextDecoder().decode(remote), "10.0.0.2:7777", now));
      }
      for (const id of ids) core.handleData(id, request, now);
      for (const id of ids) core.handleEof(id, now);
      while (core.pollAction() !== undefined);
      while (core.pollEvent() !== undefined);
      now += 0.01;
    }
  };
  const retained = await retainedBy(run);
  if (core.stats().active !== 0) throw new Error("connections left open");
  console.log(JSON.stringify({ retained }));
}

/** The control: a `Map` in the old generation, one entry per connection, added then deleted. */
async function mapRun(): Promise<void> {
  const table = new Map<number, { held: { i: number }[] }>();
  let next = 0;
  const run = (n: number) => {
    for (let done = 0; done < n; done += WAVE) {
      const ids: number[] = [];
      for (let i = 0; i < WAVE; i++) {
        ids.push(next);
        table.set(next++, { held: payload() });
      }
      for (const id of ids) table.delete(id);
    }
  };
  const retained = await retainedBy(run);
  console.log(JSON.stringify({ retained, size: table.size }));
}

switch (Deno.args[0]) {
  case "driver":
    await driverRun(true);
    break;
  case "tracker":
    await trackerRun();
    break;
  case "map":
    await mapRun();
    break;
  default:
    console.error("usage: _retention_fixture.ts driver|tracker|map");
    Deno.exit(2);
}
