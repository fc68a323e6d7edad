/**
 * Package-private Deno adapter: runs a {@linkcode TcpCore} over real TCP. It accepts on a
 * listener, opens the connections the core asks for, feeds reads, EOFs and errors back in with
 * `performance.now()`, performs writes and closes in order per connection, and keeps exactly one
 * timer armed at `nextTimeout()`. It makes no protocol decisions: every timeout and every answer
 * is the core's.
 *
 * On abort it closes the listener and every connection, clears the timer, and resolves once every
 * pending read, write and connect has settled.
 *
 * @module
 */

import type { ConnId, TcpAction, TcpCore } from "./tcp_core.ts";

/** Options of {@linkcode driveTcpCore}. */
export interface DriveTcpCoreOptions<E> {
  /** The listener whose connections go to the core (closed on abort). */
  listener: Deno.TcpListener;
  /** Abort to stop. */
  signal?: AbortSignal;
  /** Receives the core's events. */
  onEvent?: (event: E) => void;
}

interface Link {
  conn: Deno.TcpConn | undefined;
  closing: boolean;
  chain: Promise<void>;
}

/** The most rounds of "handle due timers, drain" in one pump (a runaway guard). */
const PUMP_ROUNDS_MAX = 1000;
/** The most a single read takes; ring messages are at most 1024 bytes. */
const READ_BYTES = 4096;
/** The pause after an accept error other than a closed listener (e.g. out of descriptors). */
const ACCEPT_ERROR_PAUSE_MS = 50;

async function writeAll(conn: Deno.TcpConn, bytes: Uint8Array): Promise<void> {
  for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
}

/**
 * Drives `core` until `signal` aborts.
 *
 * @returns A promise that settles once everything is closed after the abort.
 *
 * @example
 * ```ts ignore
 * import { driveTcpCore } from "./_tcp_driver.ts";
 * import { RingTracker } from "./tracker.ts";
 * const controller = new AbortController();
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const done = driveTcpCore(new RingTracker(performance.now()), { listener, signal: controller.signal });
 * controller.abort();
 * await done;
 * ```
 */
export function driveTcpCore<E>(core: TcpCore<E>, options: DriveTcpCoreOptions<E>): Promise<void> {
  const { listener, signal, onEvent } = options;
  const links = new Map<ConnId, Link>();
  const tasks = new Set<Promise<unknown>>();
  const wakers = new Set<() => void>();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  let last = 0;
  const now = () => (last = Math.max(last, performance.now())); // never backwards

  const track = (p: Promise<unknown>) => {
    tasks.add(p);
    p.finally(() => tasks.delete(p));
  };

  const pump = (): void => {
    if (stopped) return;
    for (let round = 0; round < PUMP_ROUNDS_MAX; round++) {
      for (let a = core.pollAction(); a; a = core.pollAction()) act(a);
      for (let e = core.pollEvent(); e; e = core.pollEvent()) onEvent?.(e);
      clearTimeout(timer);
      timer = undefined;
      const at = core.nextTimeout();
      if (at === undefined) return;
      const t = now();
      if (at > t) {
        timer = setTimeout(() => {
          timer = undefined;
          if (stopped) return;
          core.handleTimeout(now());
          pump();
        }, Math.min(Math.ceil(at - t), 2 ** 31 - 1));
        return;
      }
      core.handleTimeout(t);
    }
    throw new Error("Cannot settle the ring core: handleTimeout() does not move nextTimeout()");
  };

  const input = (fn: () => void): void => {
    if (stopped) return;
    fn();
    pump();
  };

  const startReading = (id: ConnId, link: Link, conn: Deno.TcpConn): void => {
    track((async () => {
      const buf = new Uint8Array(READ_BYTES);
      for (;;) {
        let n: number | null;
        try {
          n = await conn.read(buf);
        } catch {
          if (!link.closing) input(() => core.handleError(id, now()));
          return;
        }
        if (link.closing) return;
        if (n === null) return input(() => core.handleEof(id, now()));
        const bytes = buf.slice(0, n);
        input(() => core.handleData(id, bytes, now()));
      }
    })());
  };

  const chain = (link: Link, step: () => Promise<void> | void): void => {
    link.chain = link.chain.then(step);
    track(link.chain);
  };

  const act = (a: TcpAction): void => {
    switch (a.type) {
      case "connect": {
        const link: Link = { conn: undefined, closing: false, chain: Promise.resolve() };
        links.set(a.conn, link);
        chain(link, async () => {
          let conn: Deno.TcpConn;
          try {
            conn = await Deno.connect({ transport: "tcp", hostname: a.host, port: a.port });
          } catch {
            if (!link.closing) input(() => core.handleError(a.conn, now()));
            return;
          }
          if (link.closing || stopped) {
            conn.close();
            return;
          }
          link.conn = conn;
          startReading(a.conn, link, conn);
          input(() => core.handleConnected(a.conn, now()));
        });
        return;
      }
      case "write": {
        const link = links.get(a.conn);
        if (link === undefined) return;
        chain(link, async () => {
          if (link.conn === undefined || stopped) return;
          try {
            await writeAll(link.conn, a.bytes);
          } catch {
            if (!link.closing) input(() => core.handleError(a.conn, now()));
          }
        });
        return;
      }
      case "close": {
        const link = links.get(a.conn);
        if (link === undefined) return;
        links.delete(a.conn);
        link.closing = true;
        chain(link, () => {
          try {
            link.conn?.close();
          } catch {
            // already closed by a stop
          }
        });
        return;
      }
    }
  };

  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(t);
        wakers.delete(wake);
        resolve();
      };
      const t = setTimeout(wake, ms);
      wakers.add(wake);
    });

  const acceptLoop = (async () => {
    while (!stopped) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch (err) {
        if (stopped || err instanceof Deno.errors.BadResource) return;
        await pause(ACCEPT_ERROR_PAUSE_MS);
        continue;
      }
      if (stopped) {
        conn.close();
        return;
      }
      const remote = conn.remoteAddr as Deno.NetAddr;
      const link: Link = { conn, closing: false, chain: Promise.resolve() };
      const id = core.handleAccept(remote.hostname, now());
      links.set(id, link);
      startReading(id, link, conn);
      pump();
    }
  })();

  return new Promise<void>((resolve) => {
    const stop = async () => {
      if (stopped) return;
      stopped = true;
      clearTimeout(timer);
      for (const wake of [...wakers]) wake();
      try {
        listener.close();
      } catch {
        // already closed
      }
      for (const link of links.values()) {
        link.closing = true;
        try {
          link.conn?.close();
        } catch {
          // already closed
        }
      }
      links.clear();
      await acceptLoop;
      for (let i = 0; i < 100 && tasks.size > 0; i++) await Promise.allSettled([...tasks]);
      resolve();
    };
    if (signal?.aborted) stop();
    else signal?.addEventListener("abort", stop, { once: true });
    pump();
  });
}
