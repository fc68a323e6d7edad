/**
 * The key-value store's durable log on disk: an append-only log (`kv.log`) with group commit,
 * periodic compaction into a snapshot (`kv.snapshot`), and recovery that drops a torn tail and
 * says what it dropped. The formats are in `log_format.ts`.
 *
 * An `append` resolves only once its records are written and fsync'd, so a node that replies to
 * a `Setvalue` after the promise resolves never loses an acknowledged write to a crash.
 *
 * @module
 */
import type { VersionedEntry } from "./types.ts";
import {
  applyEntry,
  encodeRecords,
  encodeSnapshot,
  mergeEntries,
  parseLog,
  parseSnapshot,
} from "./log_format.ts";

const LOG = "kv.log";
const SNAPSHOT = "kv.snapshot";
const NAME_FILE = "kv-node.json";
const TEMP_FILES = ["kv.snapshot.tmp", "kv.log.tmp", "kv-node.json.tmp"];

/** The file operations the log needs; tests wrap the real file to inject failures. */
export interface KvLogFile {
  /** Writes some of `p` at the end of the file; returns how many bytes were written. */
  write(p: Uint8Array): Promise<number>;
  /** Flushes data (and the size) to the disk. */
  syncData(): Promise<void>;
  /** Cuts the file to `len` bytes. */
  truncate(len?: number): Promise<void>;
  close(): void;
}

/** Options of {@linkcode KvLog.open}. */
export interface KvLogOptions {
  /**
   * Compact when the log grows past this many bytes (default 4 MiB) or past the size of the last
   * snapshot, whichever is larger (so compaction costs stay proportional to what is written).
   */
  readonly compactAfterBytes?: number;
  /** Whether to fsync (default true). Only tests that don't care about crashes turn it off. */
  readonly fsync?: boolean;
  /** For tests: wraps each file the log opens (`kind` is `log` or `snapshot`). */
  readonly wrapFile?: (file: KvLogFile, kind: "log" | "snapshot") => KvLogFile;
}

/** What {@linkcode KvLog.open} recovered. */
export interface Recovered {
  /** The merged state: one entry per key, the newest version of each. */
  readonly entries: VersionedEntry[];
  /** The largest clock on disk (0 when empty): the Lamport clock to resume from. */
  readonly maxClock: number;
  /** Bytes dropped from the log's tail and a damaged snapshot. */
  readonly droppedBytes: number;
  /** Records dropped (an unterminated tail counts as one). */
  readonly droppedRecords: number;
  /** Why something was dropped; empty after a clean shutdown or a crash between records. */
  readonly problems: string[];
  /** Entries read from the snapshot. */
  readonly fromSnapshot: number;
  /** Records read from the log. */
  readonly fromLog: number;
}

/** Counters of a {@linkcode KvLog}. */
export interface KvLogStats {
  /** `append` calls that resolved (each is durable). */
  appends: number;
  /** Entries written by those calls. */
  entries: number;
  /** Group commits that succeeded (one write + one fsync each). */
  commits: number;
  /** Group commits that failed (their appends were rejected). */
  failedCommits: number;
  /** fsync calls (log, snapshot and directory). */
  fsyncs: number;
  /** Bytes appended to the log. */
  bytes: number;
  /** Snapshots written. */
  compactions: number;
  /** Compactions that failed (the log goes on; they are retried after the next commit). */
  failedCompactions: number;
}

interface Pending {
  readonly entries: readonly VersionedEntry[];
  readonly bytes: Uint8Array;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

/** Opens a file of the log, wrapped for tests. */
async function openFile(
  path: string,
  kind: "log" | "snapshot",
  options: KvLogOptions,
  mode: Deno.OpenOptions,
): Promise<KvLogFile> {
  const f = await Deno.open(path, mode);
  const file: KvLogFile = {
    write: (p) => f.write(p),
    syncData: () => f.syncData(),
    truncate: (len) => f.truncate(len),
    close: () => f.close(),
  };
  return options.wrapFile ? options.wrapFile(file, kind) : file;
}

async function writeAll(file: KvLogFile, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await file.write(bytes.subarray(off));
}

async function readIfExists(path: string): Promise<Uint8Array | undefined> {
  try {
    return await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

/** fsyncs a directory so a rename in it is durable; a no-op where directories can't be opened. */
async function syncDir(dir: string): Promise<boolean> {
  try {
    const d = await Deno.open(dir, { read: true });
    try {
      await d.sync();
    } finally {
      d.close();
    }
    return true;
  } catch {
    return false; // e.g. Windows; the rename is still atomic
  }
}

/**
 * The durable log of one node's key-value store. It keeps its own map of what is on disk, to
 * write snapshots from.
 *
 * @example Append, close, reopen
 * ```ts
 * import { KvLog } from "./durable_log_deno.ts";
 * import assert from "node:assert/strict";
 * const dir = await Deno.makeTempDir();
 * const { log } = await KvLog.open(dir);
 * await log.append([{ key: "color", value: "green", clock: 42, origin: "ts-1" }]);
 * await log.close();
 * const { log: again, recovered } = await KvLog.open(dir);
 * assert.deepEqual(recovered.entries, [{ key: "color", value: "green", clock: 42, origin: "ts-1" }]);
 * assert.equal(recovered.maxClock, 42);
 * await again.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class KvLog {
  /** Counters since `open`. */
  readonly stats: KvLogStats = {
    appends: 0,
    entries: 0,
    commits: 0,
    failedCommits: 0,
    fsyncs: 0,
    bytes: 0,
    compactions: 0,
    failedCompactions: 0,
  };
  readonly #dir: string;
  readonly #options: KvLogOptions;
  readonly #compactAfter: number;
  readonly #fsync: boolean;
  readonly #map: Map<string, VersionedEntry>;
  readonly #file: KvLogFile;
  /** Size of the log's good prefix: every byte before it is committed. */
  #size: number;
  /** The file may hold bytes past `#size` from a failed commit: cut them before writing. */
  #dirty = false;
  #snapshotBytes = 0;
  #queue: Pending[] = [];
  #running: Promise<void> | undefined;
  #closed = false;
  #fileClosed = false;

  private constructor(
    dir: string,
    options: KvLogOptions,
    map: Map<string, VersionedEntry>,
    file: KvLogFile,
    size: number,
    snapshotBytes: number,
  ) {
    this.#dir = dir;
    this.#options = options;
    this.#compactAfter = options.compactAfterBytes ?? 4 * 1024 * 1024;
    this.#fsync = options.fsync ?? true;
    this.#map = map;
    this.#file = file;
    this.#size = size;
    this.#snapshotBytes = snapshotBytes;
  }

  /**
   * Opens (creating it if missing) the log in `dir`: removes stray temp files, reads the snapshot
   * and the log, cuts a torn or corrupt tail off the log so that new records follow good data,
   * and returns the merged state.
   *
   * @throws When the directory or its files cannot be read or written.
   */
  static async open(
    dir: string,
    options: KvLogOptions = {},
  ): Promise<{ log: KvLog; recovered: Recovered }> {
    await Deno.mkdir(dir, { recursive: true });
    for (const name of TEMP_FILES) {
      await Deno.remove(`${dir}/${name}`).catch((e) => {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      });
    }
    const map = new Map<string, VersionedEntry>();
    const problems: string[] = [];
    let droppedBytes = 0, droppedRecords = 0, maxClock = 0, fromSnapshot = 0;
    const snapBytes = await readIfExists(`${dir}/${SNAPSHOT}`);
    if (snapBytes) {
      const s = parseSnapshot(snapBytes);
      maxClock = mergeEntries(map, s.entries);
      fromSnapshot = s.entries.length;
      droppedBytes += s.droppedBytes;
      droppedRecords += s.droppedRecords;
      problems.push(...s.problems);
    }
    const logBytes = (await readIfExists(`${dir}/${LOG}`)) ?? new Uint8Array(0);
    const l = parseLog(logBytes);
    maxClock = Math.max(maxClock, mergeEntries(map, l.entries));
    droppedBytes += l.droppedBytes;
    droppedRecords += l.droppedRecords;
    problems.push(...l.problems);
    const file = await openFile(`${dir}/${LOG}`, "log", options, {
      read: true,
      append: true,
      create: true,
    });
    const log = new KvLog(dir, options, map, file, l.goodBytes, snapBytes?.length ?? 0);
    if (l.droppedBytes > 0) {
      await file.truncate(l.goodBytes);
      await log.#sync(file);
    }
    const recovered: Recovered = {
      entries: [...map.values()],
      maxClock,
      droppedBytes,
      droppedRecords,
      problems,
      fromSnapshot,
      fromLog: l.entries.length,
    };
    return { log, recovered };
  }

  /** Entries currently on disk (after merging): one per key. */
  get size(): number {
    return this.#map.size;
  }

  /** Bytes of committed records in the current log file (it restarts at 0 after compaction). */
  get logBytes(): number {
    return this.#size;
  }

  /**
   * Writes `entries` to the log; resolves once they are written and fsync'd. Appends made while
   * a commit is in flight go out together in the next single write and fsync (group commit).
   *
   * @throws {RangeError} (rejects) When an entry is not valid; nothing of this call is written.
   * @throws (rejects) When the write or fsync of its group fails: none of that group counts as
   * written, and the log stays usable for later appends.
   */
  append(entries: readonly VersionedEntry[]): Promise<void> {
    if (this.#closed) return Promise.reject(new Error("Cannot append: the log is closed"));
    let bytes: Uint8Array;
    try {
      bytes = encodeRecords(entries);
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ entries, bytes, resolve, reject });
      // start after the current task, so that a burst of synchronous appends shares one commit
      this.#running ??= Promise.resolve().then(() => this.#run());
    });
  }

  /** Waits for the commits in flight and queued, then closes the file. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    while (this.#running) await this.#running;
    if (!this.#fileClosed) {
      this.#fileClosed = true;
      this.#file.close();
    }
  }

  async #sync(file: KvLogFile): Promise<void> {
    if (!this.#fsync) return;
    await file.syncData();
    this.stats.fsyncs++;
  }

  async #run(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue.splice(0);
        await this.#commit(batch);
        const threshold = Math.max(this.#compactAfter, this.#snapshotBytes);
        if (this.#size > threshold) await this.#compact();
      }
    } finally {
      this.#running = undefined;
    }
  }

  async #commit(batch: Pending[]): Promise<void> {
    let total = 0;
    for (const p of batch) total += p.bytes.length;
    const bytes = new Uint8Array(total);
    let off = 0;
    for (const p of batch) {
      bytes.set(p.bytes, off);
      off += p.bytes.length;
    }
    try {
      if (this.#dirty) {
        await this.#file.truncate(this.#size);
        this.#dirty = false;
      }
      this.#dirty = true; // until the write and fsync are both done
      await writeAll(this.#file, bytes);
      await this.#sync(this.#file);
      this.#dirty = false;
    } catch (e) {
      this.stats.failedCommits++;
      // cut the partial or unsynced records, so later records follow good data; if this fails
      // too, the next commit tries again first
      try {
        await this.#file.truncate(this.#size);
        this.#dirty = false;
      } catch {
        this.#dirty = true;
      }
      for (const p of batch) p.reject(e);
      return;
    }
    this.#size += total;
    this.stats.commits++;
    this.stats.bytes += total;
    for (const p of batch) {
      for (const e of p.entries) applyEntry(this.#map, e);
      this.stats.appends++;
      this.stats.entries += p.entries.length;
      p.resolve();
    }
  }

  /**
   * Writes the merged state to `kv.snapshot.tmp`, fsyncs it, renames it to `kv.snapshot`, fsyncs
   * the directory, then empties the log. A crash at any step leaves the old snapshot with the
   * whole log, or the new snapshot with the old or empty log: replay with last-writer-wins gives
   * the same state in all cases.
   */
  async #compact(): Promise<void> {
    const tmp = `${this.#dir}/${SNAPSHOT}.tmp`;
    try {
      const bytes = encodeSnapshot(this.#map.values());
      const f = await openFile(tmp, "snapshot", this.#options, {
        write: true,
        create: true,
        truncate: true,
      });
      try {
        await writeAll(f, bytes);
        await this.#sync(f);
      } finally {
        f.close();
      }
      await Deno.rename(tmp, `${this.#dir}/${SNAPSHOT}`);
      if (this.#fsync && await syncDir(this.#dir)) this.stats.fsyncs++;
      this.#snapshotBytes = bytes.length;
    } catch {
      this.stats.failedCompactions++;
      await Deno.remove(tmp).catch(() => {});
      return;
    }
    // the snapshot holds everything: the log may go; if cutting it fails, it is only replayed
    try {
      await this.#file.truncate(0);
      this.#size = 0;
      this.#dirty = false;
      await this.#sync(this.#file);
    } catch {
      this.#dirty = true; // the next commit cuts it to #size first
    }
    this.stats.compactions++;
  }
}

/**
 * The node's name, kept in `kv-node.json` in `dir` so a restarted node writes with the same
 * origin. The first call stores `make()` (atomically: temp file, fsync, rename).
 *
 * @throws When the file exists but does not hold a non-empty `name`: the node must not silently
 * take a new identity.
 * @example
 * ```ts
 * import { readOrCreateName } from "./durable_log_deno.ts";
 * import assert from "node:assert/strict";
 * const dir = await Deno.makeTempDir();
 * assert.equal(await readOrCreateName(dir, () => "ts-first"), "ts-first");
 * assert.equal(await readOrCreateName(dir, () => "ts-second"), "ts-first");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function readOrCreateName(dir: string, make: () => string): Promise<string> {
  const path = `${dir}/${NAME_FILE}`;
  let text: string | undefined;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  if (text !== undefined) {
    let name: unknown;
    try {
      name = (JSON.parse(text) as { name?: unknown })?.name;
    } catch {
      name = undefined;
    }
    if (typeof name !== "string" || name === "") {
      throw new Error(`${path} does not hold a node name; fix or remove it`);
    }
    return name;
  }
  const name = make();
  if (typeof name !== "string" || name === "") {
    throw new RangeError("Cannot store the node name: it must be a non-empty string");
  }
  await Deno.mkdir(dir, { recursive: true });
  const tmp = `${path}.tmp`;
  const f = await Deno.open(tmp, { write: true, create: true, truncate: true });
  try {
    await writeAll(f, new TextEncoder().encode(JSON.stringify({ name }) + "\n"));
    await f.syncData();
  } finally {
    f.close();
  }
  await Deno.rename(tmp, path);
  await syncDir(dir);
  return name;
}
