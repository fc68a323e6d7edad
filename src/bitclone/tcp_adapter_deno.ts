/**
 * The BitClone peer on real sockets: runs the node core (`PeerNode`, a `StreamCore` with its own
 * `save` and `log` actions) with the one TCP driver (`src/net/tcp_driver.ts`), which does all the
 * socket work (accepting, connecting within the core's timeout, ordered writes, closes, the one
 * timer). What is left here makes no protocol decision:
 * - `save` actions go to `save`, one at a time (a newer book replaces one still waiting);
 * - `log` actions go to the logger (the message as plain text, the fields as properties);
 * - on abort: the listener closes, the core's `shutdown()` runs and its last writes, closes and
 *   final save are waited for, within `stopTimeoutMs`; then whatever is left is closed. Every
 *   socket, timer and promise is settled when `done` resolves.
 *
 * @module
 */
import type { StreamCore } from "../core/mod.ts";
import { TcpDriver } from "../net/mod.ts";
import { type Logger, serviceLogger } from "../util/mod.ts";
import type { PeerNodeOwnAction, SavedPeer } from "./peer_node_types.ts";

/** A core {@linkcode drivePeerNode} runs: a stream core that can stop cleanly (`PeerNode`). */
export interface StoppableCore extends StreamCore<PeerNodeOwnAction> {
  /** Closes every connection and emits a final `save`. */
  shutdown(now: number): void;
}

/** Options of {@linkcode drivePeerNode}. */
export interface DrivePeerNodeOptions {
  /** The listener whose connections go to the core; closed when the driver stops. */
  listener: Deno.TcpListener;
  /** Abort to stop: `shutdown()`, flush, final save, close. @default {undefined} */
  signal?: AbortSignal;
  /** Where the core's `log` actions go. @default {serviceLogger("peer")} */
  log?: Logger;
  /**
   * Writes the address book of a `save` action. Called one at a time; when several `save`
   * actions arrive during a write, only the newest is written next. A rejection is logged.
   *
   * @default {undefined} (`save` actions are ignored)
   */
  save?: (peers: readonly SavedPeer[]) => Promise<void>;
  /**
   * Sockets held at once (inbound and outbound, connecting included). An inbound connection past
   * it is closed at once and never reaches the core; a `connect` past it fails.
   *
   * @default {1024}
   */
  maxSockets?: number;
  /**
   * Bytes waiting to be written to one connection; past it the connection fails (a peer that does
   * not read, spec §C.12).
   *
   * @default {8388608} (8 MiB)
   */
  maxQueuedBytes?: number;
  /** How long a stop may wait for the flushes and the final save. @default {1500} */
  stopTimeoutMs?: number;
  /** Opens outbound connections. @default {Deno.connect} */
  connect?: (options: Deno.ConnectOptions) => Promise<Deno.TcpConn>;
  /** The monotonic clock in milliseconds. @default {performance.now} */
  clock?: () => number;
}

/** Counters of a running {@linkcode PeerNodeDriver}. */
export interface PeerDriverStats {
  /** Sockets held now (inbound and outbound, connecting included). */
  sockets: number;
  /** The most sockets held at once so far. */
  peakSockets: number;
  /** Inbound connections passed to the core. */
  accepted: number;
  /** Inbound connections closed at once because `maxSockets` were held. */
  refused: number;
  /** Connects that succeeded. */
  dialed: number;
  /** Connects that failed (refused, unreachable, timed out, no socket free). */
  dialFailures: number;
  /** Connections failed by a read or write error or a full write buffer. */
  resets: number;
  /** Bytes read from every connection. */
  bytesRead: number;
  /** Bytes written to every connection. */
  bytesWritten: number;
  /** Address books written. */
  saves: number;
  /** Address book writes that failed. */
  saveErrors: number;
}

/** A running peer on sockets. */
export interface PeerNodeDriver {
  /** Resolves once the driver stopped after its signal was aborted. Never rejects. */
  readonly done: Promise<void>;
  /** Counters, for status lines, tests and benchmarks. */
  stats(): PeerDriverStats;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
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
 * Runs `core` on real sockets with the TCP driver until `options.signal` aborts.
 *
 * @param core The node core; the driver is its only caller from now on.
 * @param options The listener, the stop signal, the logger, the save function and limits.
 * @returns The running driver: `done` and counters.
 * @throws {RangeError} When a limit is not a positive number.
 *
 * @example Serve a core on a free port, then stop
 * ```ts ignore
 * import { drivePeerNode } from "./tcp_adapter_deno.ts";
 * import { PeerNode } from "./peer_node.ts";
 * import { Prng } from "../util/prng.ts";
 * const core = new PeerNode({ prng: Prng.seeded(1), now: performance.now() });
 * const controller = new AbortController();
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const driver = drivePeerNode(core, { listener, signal: controller.signal });
 * controller.abort();
 * await driver.done;
 * ```
 */
export function drivePeerNode(core: StoppableCore, options: DrivePeerNodeOptions): PeerNodeDriver {
  const {
    listener,
    signal,
    log = serviceLogger("peer"),
    save,
    maxSockets = 1024,
    maxQueuedBytes = 8 * 1024 * 1024,
    stopTimeoutMs = 1500,
    connect,
    clock = () => performance.now(),
  } = options;
  positiveOption("maxSockets", maxSockets);
  positiveOption("maxQueuedBytes", maxQueuedBytes);
  positiveOption("stopTimeoutMs", stopTimeoutMs);

  let saves = 0, saveErrors = 0;
  let pendingSave: readonly SavedPeer[] | undefined;
  let saving: Promise<void> | undefined;

  const requestSave = (peers: readonly SavedPeer[]): void => {
    if (save === undefined) return;
    pendingSave = peers;
    saving ??= (async () => {
      while (pendingSave !== undefined) {
        const next = pendingSave;
        pendingSave = undefined;
        try {
          await save(next);
          saves++;
        } catch (err) {
          saveErrors++;
          log.warn("cannot save the address book: {error}", { error: errorText(err) });
        }
      }
      saving = undefined;
    })();
  };

  const onAction = (a: PeerNodeOwnAction): void => {
    if (a.type === "save") return requestSave(a.peers);
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

  const driver = new TcpDriver<PeerNodeOwnAction>({
    core,
    listener,
    onAction,
    writeBufferBytesMax: maxQueuedBytes,
    connectionsMax: maxSockets,
    noDelay: true,
    now: clock,
    connect,
  });

  const done = new Promise<void>((resolve) => {
    let stopping = false;
    const stop = async () => {
      if (stopping) return;
      stopping = true;
      try {
        listener.close();
      } catch {
        // already closed
      }
      core.shutdown(clock());
      driver.pump();
      let deadline: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<"late">((
        r,
      ) => (deadline = setTimeout(() => r("late"), stopTimeoutMs)));
      const flushed = Promise.all([driver.flushed(), saving]).then(() => "flushed" as const);
      const outcome = await Promise.race([flushed, late]);
      clearTimeout(deadline);
      const left = driver.connections;
      driver.close();
      if (outcome === "late" && left > 0) {
        log.warn("stopped with {left} connection(s) not flushed within {ms} ms", {
          left,
          ms: stopTimeoutMs,
        });
      }
      await driver.done;
      await saving;
      resolve();
    };
    if (signal?.aborted) queueMicrotask(() => void stop());
    else signal?.addEventListener("abort", () => void stop(), { once: true });
  });

  return {
    done,
    stats: () => {
      const s = driver.stats;
      return {
        sockets: driver.connections,
        peakSockets: s.peakConnections,
        accepted: s.accepted,
        refused: s.refused,
        dialed: s.connected,
        dialFailures: s.connectFailed,
        resets: s.errors,
        bytesRead: s.bytesIn,
        bytesWritten: s.bytesOut,
        saves,
        saveErrors,
      };
    },
  };
}
