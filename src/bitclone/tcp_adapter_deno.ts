/**
 * The Deno TCP adapter of the BitClone peer: binds a {@linkcode PeerNodeCore} (the sans-I/O node
 * of `peer_node.ts`, or any other implementation of the contract in `peer_node_types.ts`) to
 * `Deno.listen`/`Deno.connect`, real timers and the file system. It only moves bytes, addresses
 * and time; every protocol decision (whom to dial, what to send, when to close) is the core's.
 *
 * What it does:
 * - accepts inbound connections (`setNoDelay`), at most `maxSockets` sockets at once: a
 *   connection past that is closed at once without reaching the core;
 * - runs every `dial` action with `Deno.connect`, raced against the action's `timeoutMs`; a
 *   connection that arrives after the deadline is closed;
 * - reads each connection into `handleData`, reports end of stream (`handleEof`) and errors
 *   (`handleReset`);
 * - writes `send` actions through one ordered queue per connection (at most `maxQueuedBytes`
 *   waiting; a write that makes no progress for `writeStallMs` resets the connection); a `close`
 *   action flushes what was queued, then closes;
 * - keeps exactly one timer, armed at `nextTimeout()`;
 * - hands `save` actions to `save`, one at a time (a newer book replaces one still waiting), and
 *   `log` actions to the logger (the message as plain text, the fields as properties);
 * - on abort: stops accepting, calls `shutdown()`, drains its actions, waits for the flushes,
 *   the socket closes and the final save, all within `stopTimeoutMs`, then closes whatever is
 *   left. Every socket, timer and promise is settled when `done` resolves.
 *
 * After every input it drains `pollAction()` and re-arms the timer. Inputs that arise while
 * actions are being drained (a dial refused at once, a full queue) are run right after the drain,
 * never from inside it.
 *
 * @module
 */
import { formatHostPort, parseHostPort } from "../net/hostport.ts";
import { type Logger, serviceLogger } from "../util/log_deno.ts";
import type { ConnKey, PeerNodeAction, PeerNodeCore, SavedPeer } from "./peer_node_types.ts";

/** Options of {@linkcode drivePeerNode}. */
export interface DrivePeerNodeOptions {
  /** The listener whose connections go to the core; closed when the driver stops. */
  listener: Deno.TcpListener;
  /**
   * Abort to stop: `shutdown()`, flush, final save, close.
   *
   * @default {undefined} (runs until the process ends)
   */
  signal?: AbortSignal;
  /**
   * Where the core's `log` actions and the adapter's own lines go.
   *
   * @default {serviceLogger("peer")}
   */
  log?: Logger;
  /**
   * Writes the address book of a `save` action. Called one at a time; when several `save`
   * actions arrive during a write, only the newest is written next. A rejection is logged.
   *
   * @default {undefined} (`save` actions are ignored)
   */
  save?: (peers: readonly SavedPeer[]) => Promise<void>;
  /**
   * Sockets held at once (inbound and outbound, dialing included). An inbound connection past it
   * is closed at once and never reaches the core; a `dial` past it fails.
   *
   * @default {1024}
   */
  maxSockets?: number;
  /**
   * Bytes waiting to be written to one connection; past it the connection is reset (a peer that
   * does not read, spec §C.12).
   *
   * @default {8388608} (8 MiB)
   */
  maxQueuedBytes?: number;
  /**
   * A write that makes no progress for this long resets its connection (spec §C.2).
   *
   * @default {90000}
   */
  writeStallMs?: number;
  /**
   * How long a stop may take: the flushes, the socket closes and the final save. What is left
   * after it is closed without waiting.
   *
   * @default {1500}
   */
  stopTimeoutMs?: number;
  /**
   * Opens outbound connections; receives the dial's `signal` (aborted on timeout or stop).
   *
   * @default {Deno.connect}
   */
  connect?: (options: Deno.ConnectOptions) => Promise<Deno.TcpConn>;
  /**
   * The monotonic clock in milliseconds. Readings that go backwards are raised to the last one.
   *
   * @default {performance.now}
   */
  clock?: () => number;
}

/** Counters of a running {@linkcode PeerNodeDriver}. */
export interface PeerDriverStats {
  /** Sockets open now (inbound and outbound, dialing included). */
  sockets: number;
  /** The most sockets open at once so far. */
  peakSockets: number;
  /** Inbound connections passed to the core. */
  accepted: number;
  /** Inbound connections closed at once because `maxSockets` were open. */
  refused: number;
  /** Dials that connected. */
  dialed: number;
  /** Dials that failed (refused, unreachable, timed out, no socket free). */
  dialFailures: number;
  /** Connections reset by a read or write error, a full queue or a stalled write. */
  resets: number;
  /** Bytes read from every connection. */
  bytesRead: number;
  /** Bytes written to every connection. */
  bytesWritten: number;
  /** Bytes queued for writing now, all connections together. */
  queuedBytes: number;
  /** Address books written. */
  saves: number;
  /** Address book writes that failed. */
  saveErrors: number;
}

/** A running adapter. */
export interface PeerNodeDriver {
  /** Resolves once the driver stopped after its signal was aborted. Never rejects. */
  readonly done: Promise<void>;
  /** Counters, for status lines, tests and benchmarks. */
  stats(): PeerDriverStats;
}

/** One TCP connection, from accept or dial to its socket's close. */
interface Link {
  readonly key: ConnKey;
  /** The socket; `undefined` while dialing. */
  conn: Deno.TcpConn | undefined;
  /** Aborts a dial under way. */
  dial: AbortController | undefined;
  /** The core still knows this key: inputs for it may be delivered. */
  live: boolean;
  /** The core asked to close: flush, then close. */
  closeRequested: boolean;
  /** The socket is closed (or the dial given up): nothing more happens on this link. */
  closed: boolean;
  /** Chunks waiting to be written, in order. */
  queue: Uint8Array[];
  queuedBytes: number;
  writing: boolean;
  stallTimer: ReturnType<typeof setTimeout> | undefined;
}

/** Bytes one read takes at most (lines are split across reads as they come). */
const READ_BUFFER_BYTES = 16_384;
/** The most "tick, drain" rounds in one pump: a core whose `nextTimeout()` never moves. */
const PUMP_ROUNDS_MAX = 1000;
/** The pause after an accept error other than a closed listener (out of descriptors, …). */
const ACCEPT_ERROR_PAUSE_MS = 50;
/** The retry delay when a core's timer would not settle. */
const RUNAWAY_TIMER_MS = 1000;
/** The longest delay `setTimeout` takes. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** At most one "refused: too many sockets" log line per this many milliseconds. */
const REFUSED_LOG_EVERY_MS = 5000;

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function netAddrText(addr: Deno.Addr): string {
  const a = addr as Deno.NetAddr;
  return formatHostPort(a.hostname, a.port);
}

/** Log message text for logtape: braces are template syntax, so plain text escapes them. */
function plainTemplate(message: string): string {
  return message.replaceAll("{", "{{").replaceAll("}", "}}");
}

function positiveOption(name: string, value: number): number {
  if (!(value > 0) || !Number.isFinite(value)) {
    throw new RangeError(`Cannot drive the peer node: ${name} must be positive, got ${value}`);
  }
  return value;
}

/**
 * Runs `core` on real sockets until `options.signal` aborts.
 *
 * @param core The node core; the driver is its only caller from now on.
 * @param options The listener, the stop signal, the logger, the save function and limits.
 * @returns The running driver: `done` and counters.
 * @throws {RangeError} When a limit is not a positive number.
 *
 * @example Serve a core on a free port, then stop
 * ```ts ignore
 * import { drivePeerNode } from "./tcp_adapter_deno.ts";
 * import type { PeerNodeCore } from "./peer_node_types.ts";
 * declare const core: PeerNodeCore;
 * const controller = new AbortController();
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const driver = drivePeerNode(core, { listener, signal: controller.signal });
 * controller.abort();
 * await driver.done;
 * ```
 */
export function drivePeerNode(core: PeerNodeCore, options: DrivePeerNodeOptions): PeerNodeDriver {
  const {
    listener,
    signal,
    log = serviceLogger("peer"),
    save,
    maxSockets = 1024,
    maxQueuedBytes = 8 * 1024 * 1024,
    writeStallMs = 90_000,
    stopTimeoutMs = 1500,
    connect = (o: Deno.ConnectOptions) => Deno.connect(o),
    clock = () => performance.now(),
  } = options;
  positiveOption("maxSockets", maxSockets);
  positiveOption("maxQueuedBytes", maxQueuedBytes);
  positiveOption("writeStallMs", writeStallMs);
  positiveOption("stopTimeoutMs", stopTimeoutMs);

  const stats: PeerDriverStats = {
    sockets: 0,
    peakSockets: 0,
    accepted: 0,
    refused: 0,
    dialed: 0,
    dialFailures: 0,
    resets: 0,
    bytesRead: 0,
    bytesWritten: 0,
    queuedBytes: 0,
    saves: 0,
    saveErrors: 0,
  };
  /** Links the core knows, by key. */
  const byKey = new Map<ConnKey, Link>();
  /** Every link whose socket is not closed yet (live ones and ones flushing before a close). */
  const open = new Set<Link>();
  /** Promises still running (reads, writes, dials, saves): all settle before `done`. */
  const tasks = new Set<Promise<void>>();
  const wakers = new Set<() => void>();
  /** Inputs raised while actions are being drained; run right after the drain. */
  const deferred: (() => void)[] = [];
  let busy = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopping = false;
  let lastNow = -Infinity;
  let nextKey = 1;
  let lastRefusedLog = -Infinity;
  let idleWaiter: (() => void) | undefined;
  let pendingSave: readonly SavedPeer[] | undefined;
  let saving = false;

  const now = (): number => (lastNow = Math.max(lastNow, clock()));

  const track = (run: () => Promise<void>): void => {
    const p = run().catch((err) => {
      log.error("peer adapter task failed: {error}", { error: errorText(err) });
    });
    tasks.add(p);
    p.then(() => tasks.delete(p));
  };

  const notify = (): void => {
    if (idleWaiter && open.size === 0 && !saving) idleWaiter();
  };

  // -------------------------------------------------------------------------------------------
  // Core inputs and the action pump

  const pump = (): void => {
    for (let round = 0; round < PUMP_ROUNDS_MAX; round++) {
      for (let a = core.pollAction(); a; a = core.pollAction()) act(a);
      clearTimeout(timer);
      timer = undefined;
      if (stopping) return;
      const at = core.nextTimeout();
      if (at === undefined) return;
      const t = now();
      if (at > t) {
        timer = setTimeout(onTimer, Math.min(Math.ceil(at - t), MAX_TIMER_MS));
        return;
      }
      core.handleTick(t);
    }
    log.error("the peer core's timer does not settle: nextTimeout() stays due after handleTick()");
    timer = setTimeout(onTimer, RUNAWAY_TIMER_MS);
  };

  const run = (fn: () => void, key?: ConnKey): void => {
    try {
      fn();
      pump();
    } catch (err) {
      log.error("peer core failed: {error}", { error: errorText(err) });
      log.debug("{stack}", { stack: err instanceof Error ? err.stack : "" });
      const link = key === undefined ? undefined : byKey.get(key);
      if (link) {
        // The core's state for this connection is not trustworthy: drop the socket only.
        byKey.delete(key!);
        link.live = false;
        closeSocket(link);
      }
      try {
        pump(); // carry out what the core queued before it failed, re-arm the timer
      } catch (again) {
        log.error("peer core failed: {error}", { error: errorText(again) });
        clearTimeout(timer);
        timer = stopping ? undefined : setTimeout(onTimer, RUNAWAY_TIMER_MS);
      }
    }
  };

  /** Runs one core input, then drains; inputs raised during the drain run after it. */
  const input = (fn: () => void, key?: ConnKey): void => {
    if (busy) {
      deferred.push(() => run(fn, key));
      return;
    }
    busy = true;
    try {
      run(fn, key);
      for (let next = deferred.shift(); next; next = deferred.shift()) next();
    } finally {
      busy = false;
    }
  };

  function onTimer(): void {
    timer = undefined;
    if (stopping) return;
    input(() => core.handleTick(now()));
  }

  // -------------------------------------------------------------------------------------------
  // Links

  const addLink = (key: ConnKey, conn: Deno.TcpConn | undefined): Link => {
    const link: Link = {
      key,
      conn,
      dial: undefined,
      live: true,
      closeRequested: false,
      closed: false,
      queue: [],
      queuedBytes: 0,
      writing: false,
      stallTimer: undefined,
    };
    byKey.set(key, link);
    open.add(link);
    stats.sockets = open.size;
    stats.peakSockets = Math.max(stats.peakSockets, open.size);
    return link;
  };

  /** Closes the socket (or gives up the dial) at once; queued bytes are dropped. */
  function closeSocket(link: Link): void {
    if (link.closed) return;
    link.closed = true;
    clearTimeout(link.stallTimer);
    link.stallTimer = undefined;
    link.dial?.abort(new Error("closed"));
    try {
      link.conn?.close();
    } catch {
      // already closed
    }
    stats.queuedBytes -= link.queuedBytes;
    link.queue = [];
    link.queuedBytes = 0;
    if (byKey.get(link.key) === link) byKey.delete(link.key);
    open.delete(link);
    stats.sockets = open.size;
    notify();
  }

  /** The connection broke under us: close it and tell the core (once). */
  const resetLink = (link: Link, reason: string): void => {
    if (link.closed) return;
    const tell = link.live;
    link.live = false;
    closeSocket(link);
    stats.resets++;
    if (tell) input(() => core.handleReset(link.key, reason, now()));
  };

  const startReading = (link: Link, conn: Deno.TcpConn): void => {
    track(async () => {
      const buf = new Uint8Array(READ_BUFFER_BYTES);
      for (;;) {
        let n: number | null;
        try {
          n = await conn.read(buf);
        } catch (err) {
          if (!link.closed) resetLink(link, `read failed: ${errorText(err)}`);
          return;
        }
        if (link.closed) return;
        if (n === null) {
          if (link.live) input(() => core.handleEof(link.key, now()), link.key);
          return;
        }
        stats.bytesRead += n;
        if (!link.live) continue; // the core closed it: discard until the socket closes
        const bytes = buf.slice(0, n);
        input(() => core.handleData(link.key, bytes, now()), link.key);
      }
    });
  };

  const writeLoop = async (link: Link): Promise<void> => {
    const conn = link.conn!;
    link.writing = true;
    try {
      while (link.queue.length > 0 && !link.closed) {
        const chunk = link.queue[0];
        for (let off = 0; off < chunk.length && !link.closed;) {
          link.stallTimer = setTimeout(
            () => resetLink(link, `no write progress for ${writeStallMs} ms`),
            writeStallMs,
          );
          let n: number;
          try {
            n = await conn.write(chunk.subarray(off));
          } finally {
            clearTimeout(link.stallTimer);
            link.stallTimer = undefined;
          }
          off += n;
          stats.bytesWritten += n;
        }
        if (link.closed) return;
        link.queue.shift();
        link.queuedBytes -= chunk.length;
        stats.queuedBytes -= chunk.length;
      }
    } catch (err) {
      if (!link.closed) resetLink(link, `write failed: ${errorText(err)}`);
      return;
    } finally {
      link.writing = false;
    }
    if (link.closeRequested) closeSocket(link);
  };

  const kickWriter = (link: Link): void => {
    if (link.writing || link.closed || link.conn === undefined) return;
    if (link.queue.length === 0) {
      if (link.closeRequested) closeSocket(link);
      return;
    }
    track(() => writeLoop(link));
  };

  // -------------------------------------------------------------------------------------------
  // Actions

  const failDial = (key: ConnKey, reason: string): void => {
    stats.dialFailures++;
    input(() => core.handleDialFailed(key, reason, now()));
  };

  const dial = (key: ConnKey, address: string, timeoutMs: number): void => {
    nextKey = Math.max(nextKey, key + 1);
    if (byKey.has(key)) {
      log.error("dial {address}: key {key} is already in use: ignored", { address, key });
      return;
    }
    const target = parseHostPort(address);
    if (target === undefined || target.port === 0) return failDial(key, "not a HOST:PORT address");
    if (stopping) return failDial(key, "stopping");
    if (open.size >= maxSockets) return failDial(key, `no socket free (${maxSockets} open)`);
    const link = addLink(key, undefined);
    const controller = new AbortController();
    link.dial = controller;
    const waitMs = Math.min(Math.max(0, timeoutMs), MAX_TIMER_MS);
    track(async () => {
      let timedOut = false;
      let deadline: ReturnType<typeof setTimeout> | undefined;
      // A connection that arrives after we gave up (deadline, close, stop) is closed at once.
      const arrival = connect({
        transport: "tcp",
        hostname: target.hostname,
        port: target.port,
        signal: controller.signal,
      }).then((conn) => {
        if (timedOut || link.closed) {
          try {
            conn.close();
          } catch {
            // already closed
          }
        }
        return conn;
      });
      const expired = new Promise<"timeout">((resolve) => {
        deadline = setTimeout(() => {
          timedOut = true;
          controller.abort(new Error("timed out"));
          resolve("timeout");
        }, waitMs);
      });
      let outcome: Deno.TcpConn | "timeout" | { error: unknown };
      try {
        outcome = await Promise.race([arrival, expired]);
      } catch (error) {
        outcome = { error };
      }
      clearTimeout(deadline);
      if (outcome === "timeout" || "error" in outcome) {
        if (!link.closed) {
          const tell = link.live;
          link.live = false;
          closeSocket(link);
          const reason = outcome === "timeout" || timedOut
            ? `timed out after ${waitMs} ms`
            : errorText(outcome.error);
          if (tell) failDial(key, reason);
        }
        // The abort settles the connect; wait for it so that no operation outlives the driver.
        await arrival.then(() => {}, () => {});
        return;
      }
      const conn = outcome;
      if (link.closed) return; // given up by the core or a stop: `arrival` closed the socket
      link.conn = conn;
      link.dial = undefined;
      try {
        conn.setNoDelay(true);
      } catch {
        // not fatal
      }
      stats.dialed++;
      const local = netAddrText(conn.localAddr);
      input(() => core.handleDialed(key, local, now()), key);
      if (link.closed) return;
      startReading(link, conn);
      kickWriter(link);
    });
  };

  const send = (key: ConnKey, bytes: Uint8Array): void => {
    const link = byKey.get(key);
    if (link === undefined || link.closeRequested || link.closed) return;
    if (bytes.length === 0) return;
    link.queue.push(bytes);
    link.queuedBytes += bytes.length;
    stats.queuedBytes += bytes.length;
    if (link.queuedBytes > maxQueuedBytes) {
      resetLink(link, `more than ${maxQueuedBytes} bytes waiting to be written`);
      return;
    }
    kickWriter(link);
  };

  const close = (key: ConnKey, reason: string): void => {
    const link = byKey.get(key);
    if (link === undefined) return;
    byKey.delete(key);
    link.live = false;
    link.closeRequested = true;
    log.debug("closing connection {key}: {reason}", { key, reason });
    if (link.conn === undefined) closeSocket(link); // still dialing: give the dial up
    else kickWriter(link);
  };

  const requestSave = (peers: readonly SavedPeer[]): void => {
    if (save === undefined) return;
    pendingSave = peers;
    if (saving) return;
    saving = true;
    track(async () => {
      try {
        while (pendingSave !== undefined) {
          const next = pendingSave;
          pendingSave = undefined;
          try {
            await save(next);
            stats.saves++;
          } catch (err) {
            stats.saveErrors++;
            log.warn("cannot save the address book: {error}", { error: errorText(err) });
          }
        }
      } finally {
        saving = false;
        notify();
      }
    });
  };

  const logAction = (a: Extract<PeerNodeAction, { type: "log" }>): void => {
    // The core's message is finished text; its fields go along as structured properties.
    const template = plainTemplate(a.message);
    const props = a.fields === undefined ? {} : { ...a.fields };
    switch (a.level) {
      case "error":
        return log.error(template, props);
      case "warn":
        return log.warn(template, props);
      case "info":
        return log.info(template, props);
      default:
        return log.debug(template, props);
    }
  };

  function act(a: PeerNodeAction): void {
    switch (a.type) {
      case "dial":
        return dial(a.key, a.address, a.timeoutMs);
      case "send":
        return send(a.key, a.bytes);
      case "close":
        return close(a.key, a.reason);
      case "save":
        return requestSave(a.peers);
      case "log":
        return logAction(a);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Accepting

  const pause = (ms: number): Promise<void> =>
    new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(t);
        wakers.delete(wake);
        resolve();
      };
      const t = setTimeout(wake, ms);
      wakers.add(wake);
    });

  const accepting = (async () => {
    while (!stopping) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch (err) {
        if (stopping || err instanceof Deno.errors.BadResource) return;
        log.warn("accept failed: {error}", { error: errorText(err) });
        await pause(ACCEPT_ERROR_PAUSE_MS);
        continue;
      }
      if (stopping) {
        conn.close();
        return;
      }
      if (open.size >= maxSockets) {
        conn.close();
        stats.refused++;
        const t = now();
        if (t - lastRefusedLog >= REFUSED_LOG_EVERY_MS) {
          lastRefusedLog = t;
          log.warn("inbound connection refused: {open} sockets open (at most {max})", {
            open: open.size,
            max: maxSockets,
          });
        }
        continue;
      }
      try {
        conn.setNoDelay(true);
      } catch {
        // not fatal
      }
      let remote: string, local: string;
      try {
        remote = netAddrText(conn.remoteAddr);
        local = netAddrText(conn.localAddr);
      } catch {
        conn.close();
        continue;
      }
      stats.accepted++;
      const key = nextKey++;
      const link = addLink(key, conn);
      input(() => core.handleInbound(key, remote, local, now()), key);
      if (!link.closed) startReading(link, conn);
    }
  })().catch((err) => {
    log.error("peer accept loop failed: {error}", { error: errorText(err) });
  });

  // -------------------------------------------------------------------------------------------
  // Stopping

  const done = new Promise<void>((resolve) => {
    const stop = async () => {
      if (stopping) return;
      stopping = true;
      try {
        listener.close();
      } catch {
        // already closed
      }
      for (const wake of [...wakers]) wake();
      input(() => core.shutdown(now()));
      clearTimeout(timer);
      timer = undefined;
      // Wait for the flushes, the closes and the final save, within the stop deadline.
      let deadline: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((settle) => {
        idleWaiter = settle;
        deadline = setTimeout(settle, stopTimeoutMs);
        notify();
      });
      clearTimeout(deadline);
      idleWaiter = undefined;
      const left = open.size;
      for (const link of [...open]) {
        link.live = false;
        closeSocket(link);
      }
      if (left > 0) {
        log.warn("stopped with {left} connection(s) not flushed within {ms} ms", {
          left,
          ms: stopTimeoutMs,
        });
      }
      await accepting;
      for (let i = 0; i < 100 && tasks.size > 0; i++) await Promise.allSettled([...tasks]);
      resolve();
    };
    if (signal?.aborted) queueMicrotask(() => void stop());
    else signal?.addEventListener("abort", () => void stop(), { once: true });
  });

  input(() => {}); // arm the timer the core already wants

  return { done, stats: () => ({ ...stats }) };
}
