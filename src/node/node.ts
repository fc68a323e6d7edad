/**
 * Hosts services side by side in one process: starts them in order, reports where they listen,
 * and stops them all together, within a deadline, when the node's signal is aborted or one of them
 * fails. A service that cannot start stops the whole node with its error: never half a node.
 *
 * @module
 */
import { serviceLogger } from "../util/mod.ts";
import type {
  ListenAddress,
  NodeView,
  RunningService,
  ServiceDefinition,
  ServiceState,
  ServiceView,
} from "./service.ts";

/** Options for {@linkcode startNode}. */
export interface StartNodeOptions {
  /** The services to host, started in this order. */
  services: readonly ServiceDefinition[];
  /** The address every service binds. @default {"0.0.0.0"} */
  hostname?: string;
  /** Ports by service name; a service not named here uses its default port. */
  ports?: Readonly<Record<string, number>>;
  /** Settings by service name (a config file's service sections). */
  settings?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  /** The data directory the services keep their state in. @default {"data"} */
  dataDir?: string;
  /** Abort to stop the node. */
  signal?: AbortSignal;
  /** How long the services have, together, to stop once asked. @default {2000} */
  stopTimeoutMs?: number;
  /** Names of the services left out (for the status service's report). @default {[]} */
  disabled?: readonly string[];
}

/** One started service of a node. */
export interface NodeService {
  name: string;
  description: string;
  listening: readonly ListenAddress[];
}

/** A running node. */
export interface RunningNode {
  /** The services, in start order, with their addresses. */
  services: readonly NodeService[];
  /**
   * Resolves when every service stopped cleanly after the signal was aborted; rejects when a
   * service failed while running or did not stop within the deadline.
   */
  closed: Promise<void>;
}

/** A service failed while running, or stopping took too long. */
export class NodeError extends Error {
  override name = "NodeError";
}

function deadline(ms: number): { promise: Promise<"timeout">; cancel: () => void } {
  let id: ReturnType<typeof setTimeout> | undefined;
  const promise = new Promise<"timeout">((resolve) =>
    id = setTimeout(() => resolve("timeout"), ms)
  );
  return { promise, cancel: () => clearTimeout(id) };
}

async function stopAll(
  started: { def: ServiceDefinition; controller: AbortController; running: RunningService }[],
  timeoutMs: number,
): Promise<{ failed: { name: string; error: unknown }[]; late: string[] }> {
  const settled = new Map<string, PromiseSettledResult<void>>();
  for (const s of started) s.controller.abort();
  const all = Promise.all(started.map(async (s) => {
    try {
      await s.running.closed;
      settled.set(s.def.name, { status: "fulfilled", value: undefined });
    } catch (error) {
      settled.set(s.def.name, { status: "rejected", reason: error });
    }
  }));
  const timer = deadline(timeoutMs);
  await Promise.race([all, timer.promise]);
  timer.cancel();
  const failed: { name: string; error: unknown }[] = [];
  const late: string[] = [];
  for (const s of started) {
    const r = settled.get(s.def.name);
    if (!r) late.push(s.def.name);
    else if (r.status === "rejected") failed.push({ name: s.def.name, error: r.reason });
  }
  return { failed, late };
}

/**
 * Starts `services` side by side. Rejects with the first start error after stopping the services
 * already started.
 *
 * @example Start and stop a node with no services
 * ```ts
 * import { startNode } from "./node.ts";
 * import assert from "node:assert/strict";
 * const controller = new AbortController();
 * const node = await startNode({ services: [], signal: controller.signal });
 * controller.abort();
 * assert.deepEqual(node.services, []);
 * await node.closed;
 * ```
 */
export async function startNode(options: StartNodeOptions): Promise<RunningNode> {
  const {
    services,
    hostname = "0.0.0.0",
    ports = {},
    settings = {},
    dataDir = "data",
    signal,
    stopTimeoutMs = 2000,
    disabled = [],
  } = options;
  const names = new Set<string>();
  for (const def of services) {
    if (names.has(def.name)) throw new TypeError(`Cannot start node: service '${def.name}' twice`);
    names.add(def.name);
  }
  const started: {
    def: ServiceDefinition;
    controller: AbortController;
    running: RunningService;
  }[] = [];
  const views: ServiceView[] = [];
  const nodeView: NodeView = {
    startedAt: Date.now(),
    hostname,
    disabled: [...disabled],
    services: () => views,
  };
  for (const def of services) {
    if (signal?.aborted) break;
    const controller = new AbortController();
    const log = serviceLogger(def.name);
    try {
      const running = await def.start({
        hostname,
        port: ports[def.name] ?? def.defaultPort,
        signal: controller.signal,
        log,
        settings: settings[def.name] ?? {},
        dataDir,
        node: nodeView,
      });
      started.push({ def, controller, running });
      views.push(serviceView(def, controller.signal, running));
      for (const a of running.listening) {
        log.info("listening on {transport} {hostname}:{port}", { ...a });
      }
    } catch (err) {
      await stopAll(started, stopTimeoutMs);
      throw err;
    }
  }

  const stopping = new AbortController();
  const onAbort = () => stopping.abort();
  signal?.addEventListener("abort", onAbort, { once: true });
  if (signal?.aborted) stopping.abort();
  // A service that ends or fails on its own stops the node.
  let firstFailure: { name: string; error: unknown } | undefined;
  for (const s of started) {
    s.running.closed.then(
      () => {
        if (!s.controller.signal.aborted) {
          firstFailure ??= { name: s.def.name, error: new Error("stopped unexpectedly") };
          stopping.abort();
        }
      },
      (error) => {
        firstFailure ??= { name: s.def.name, error };
        stopping.abort();
      },
    );
  }

  const closed = (async () => {
    if (!stopping.signal.aborted) {
      await new Promise<void>((resolve) =>
        stopping.signal.addEventListener("abort", () => resolve(), { once: true })
      );
    }
    signal?.removeEventListener("abort", onAbort);
    const { failed, late } = await stopAll(started, stopTimeoutMs);
    const problems: string[] = [];
    if (firstFailure) problems.push(`${firstFailure.name}: ${errorText(firstFailure.error)}`);
    for (const f of failed) {
      if (f.name !== firstFailure?.name) problems.push(`${f.name}: ${errorText(f.error)}`);
    }
    if (late.length) problems.push(`did not stop within ${stopTimeoutMs} ms: ${late.join(", ")}`);
    if (problems.length) throw new NodeError(problems.join("; "));
  })();

  return {
    services: started.map((s) => ({
      name: s.def.name,
      description: s.def.description,
      listening: s.running.listening,
    })),
    closed,
  };
}

/** The status service's view of one started service: its state follows its signal and `closed`. */
function serviceView(
  def: ServiceDefinition,
  signal: AbortSignal,
  running: RunningService,
): ServiceView {
  let ended: ServiceState | undefined;
  running.closed.then(() => ended = "stopped", () => ended = "failed");
  return {
    name: def.name,
    description: def.description,
    listening: running.listening,
    startedAt: Date.now(),
    get state(): ServiceState {
      return ended ?? (signal.aborted ? "stopping" : "running");
    },
    status: () => running.status?.(),
  };
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
