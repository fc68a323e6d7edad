/**
 * The types shared by the key-value store's codec, store, log and node: the messages of the
 * original's enum plus our extensions (spec `kv.md` §2.1 and §6), and a versioned entry.
 *
 * @module
 */

/** A version: a Lamport clock and the name of the node that wrote it (§6.5). */
export interface Version {
  /** Lamport counter, an integer in 1 … 2^53−1. */
  readonly clock: number;
  /** The writer's `node_name` (non-empty). */
  readonly origin: string;
}

/** One stored key with its value and version. */
export interface VersionedEntry extends Version {
  readonly key: string;
  readonly value: string;
}

/** One member as the `Members` extension reports it. */
export interface MemberInfo {
  /** The member's `node_name` (`""` for a legacy node). */
  readonly name: string;
  /** The address we contact it at (`ip:port`). */
  readonly address: string;
  /** `alive`, `suspect` or `dead`. */
  readonly state: string;
  /** Milliseconds since the Unix epoch of the last sign of life, or 0 for never. */
  readonly lastSeen: number;
  /** Whether the member speaks our extensions (`kv_ext` in its Handshake). */
  readonly ext: boolean;
}

/**
 * A message of the original's enum (§2.1), with the extension fields of §6 where present, and the
 * extension requests only our nodes answer (`SyncAll`, `Members`, `MembersResponse`).
 */
export type KvMessage =
  | {
    readonly type: "Handshake";
    readonly nodeName: string;
    readonly tcpAddress: string;
    /** `kv_ext`: present only in our nodes' Handshakes. */
    readonly kvExt?: number;
    /** `boot`: ms since the epoch at process start, our nodes only. */
    readonly boot?: number;
  }
  | { readonly type: "Greeting" }
  | { readonly type: "Heartbeat" }
  | { readonly type: "HeartbeatResponse" }
  | { readonly type: "Setvalue"; readonly key: string; readonly value: string }
  | { readonly type: "Getvalue"; readonly key: string }
  | {
    readonly type: "ValueResponse";
    readonly value: string | null;
    readonly clock?: number;
    readonly origin?: string;
  }
  | {
    readonly type: "Sync";
    readonly key: string;
    readonly value: string;
    /** Present (with `origin`) on a versioned Sync. */
    readonly clock?: number;
    readonly origin?: string;
  }
  | { readonly type: "SyncAll" }
  | { readonly type: "Members" }
  | { readonly type: "MembersResponse"; readonly members: readonly MemberInfo[] };

/** The variant names of {@linkcode KvMessage}. */
export type KvMessageType = KvMessage["type"];

/** What the log recovery reported at start. */
export interface RecoveryEvent {
  readonly type: "recovered";
  readonly keys: number;
  readonly clock: number;
  readonly droppedRecords: number;
  readonly droppedBytes: number;
  readonly problems: readonly string[];
}
