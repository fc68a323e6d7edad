/**
 * The small interface through which every protocol plugs into `bitclone node`: a service starts
 * with an AbortSignal, reports where it listens, and stops when the signal is aborted.
 *
 * @module
 */
import type { Logger } from "../util/mod.ts";

/** Where a service listens. */
export interface ListenAddress {
  transport: "tcp" | "udp";
  hostname: string;
  port: number;
}

/** What a service gets when the node starts it. */
export interface ServiceContext {
  /** The address to bind (`0.0.0.0` unless configured). */
  hostname: string;
  /** The port to bind, from flags, the config file or the service's default (0: any free port). */
  port: number;
  /** Aborted when the node stops: close sockets, save files, settle promises, then resolve `closed`. */
  signal: AbortSignal;
  /** The service's own logger: every line is tagged with its name. */
  log: Logger;
  /** The service's section of the config file (ports removed), for its own settings. */
  settings: Readonly<Record<string, unknown>>;
  /**
   * The node's data directory (`--data-dir`, default `data`), where a service keeps the state it
   * writes (the peer's address book, any log of its own). It may not exist yet: create it.
   */
  dataDir: string;
  /**
   * A read-only view of the node's services, for a service that reports on the others (the
   * status service). Absent when the service is started outside a node.
   */
  node?: NodeView;
}

/**
 * A service's read-only snapshot for the status service: plain JSON values (numbers, strings,
 * booleans, arrays, objects), its own shape documented with the service.
 */
export type ServiceStatus = Readonly<Record<string, unknown>>;

/** Where a service of a node is in its life. */
export type ServiceState = "running" | "stopping" | "stopped" | "failed";

/** One service of a node as the status service sees it. */
export interface ServiceView {
  /** Its name (`peer`, `miner`, …). */
  readonly name: string;
  /** Its one-line description. */
  readonly description: string;
  /** Where it listens. */
  readonly listening: readonly ListenAddress[];
  /** When it finished starting (Unix ms). */
  readonly startedAt: number;
  /** Where it is in its life. */
  readonly state: ServiceState;
  /** Its snapshot, when it gives one. */
  status(): ServiceStatus | undefined;
}

/** The node as the status service sees it: read-only. */
export interface NodeView {
  /** When the node began starting its services (Unix ms). */
  readonly startedAt: number;
  /** The address every service binds. */
  readonly hostname: string;
  /** Services known to the node but not started (`--disable`, `enabled: false`). */
  readonly disabled: readonly string[];
  /** The services started so far, in start order. */
  services(): readonly ServiceView[];
}

/** A started service. */
export interface RunningService {
  /** Every address it listens on. */
  readonly listening: readonly ListenAddress[];
  /**
   * Resolves once the service has fully stopped after its signal was aborted (files saved, sockets
   * closed). Rejects if the service fails while running: the node then stops.
   */
  readonly closed: Promise<void>;
  /**
   * A read-only snapshot of what it is doing (connections, counters), for the status service.
   * Cheap: it may be called several times a second.
   */
  status?(): ServiceStatus;
}

/** A `bitclone node` option that sets one of a service's settings to the option's text. */
export interface ServiceFlag {
  /** The option's name without dashes (`join-miner`). */
  name: string;
  /** The value's name in help (`HOST:PORT`). */
  valueName: string;
  /** One line for `--help`. */
  description: string;
  /** The setting it sets (`join`). */
  setting: string;
}

/**
 * A service the node can host.
 */
export interface ServiceDefinition {
  /** Short name: log tag, config section and flag prefix (`--<name>-port`). */
  name: string;
  /** One line for `--help` and the start banner. */
  description: string;
  /** Its main transport, for help text. */
  transport: "tcp" | "udp";
  /** Its default port. */
  defaultPort: number;
  /**
   * Whether the node starts it when the config file does not say (`services.<name>.enabled`).
   * @default {true}
   */
  enabledByDefault?: boolean;
  /**
   * Extra `bitclone node` options of this service, each setting one of its settings (the option
   * wins over the config file), e.g. `--join-miner HOST:PORT` for the miner's `join`.
   */
  flags?: readonly ServiceFlag[];
  /**
   * Checks the service's config section before anything starts; throws
   * {@linkcode ServiceSettingsError} naming a setting of the wrong type (the node then exits 2,
   * naming the config file, as for every other config error).
   */
  checkSettings?(settings: Readonly<Record<string, unknown>>): void;
  /** Starts it; rejects (for example {@linkcode ServiceStartError}) when it cannot. */
  start(ctx: ServiceContext): Promise<RunningService>;
}

/**
 * A service could not start: the message names the service and what it could not do.
 *
 * @example
 * ```ts
 * import { ServiceStartError } from "./service.ts";
 * import assert from "node:assert/strict";
 * const err = new ServiceStartError("lsp", "cannot listen on udp 0.0.0.0:9999: address already in use");
 * assert.ok(err.message.startsWith("lsp: "));
 * ```
 */
export class ServiceStartError extends Error {
  override name = "ServiceStartError";
  /** The service that failed. */
  service: string;
  constructor(service: string, message: string, options?: ErrorOptions) {
    super(`${service}: ${message}`, options);
    this.service = service;
  }
}

/**
 * A setting in a service's config section has the wrong type or value: the message says which and
 * what it must be, without the service or file (`setting 'targetPeers' must be a whole number`).
 *
 * @example
 * ```ts
 * import { ServiceSettingsError } from "./service.ts";
 * import assert from "node:assert/strict";
 * const err = new ServiceSettingsError("peer", "targetPeers", "a whole number");
 * assert.equal(err.setting, "targetPeers");
 * assert.ok(err.message.includes("targetPeers"));
 * ```
 */
export class ServiceSettingsError extends ServiceStartError {
  override name = "ServiceSettingsError";
  /** The setting. */
  setting: string;
  /** What it must be. */
  expected: string;
  constructor(service: string, setting: string, expected: string) {
    super(service, `setting '${setting}' must be ${expected}`);
    this.setting = setting;
    this.expected = expected;
  }
}
