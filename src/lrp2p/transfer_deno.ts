/**
 * Sending and receiving one file over an {@linkcode LrpConnection} (format in `transfer.ts`):
 * the SHA-256 is computed while streaming (`node:crypto`), the receiver writes `<name>.part` and
 * renames it only after the hash matched, and tells the sender in-band.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { LrpConnection, PeerSocket } from "./socket_deno.ts";
import {
  decodeOffer,
  decodeReply,
  DIGEST_BYTES,
  encodeOffer,
  encodeReply,
  fileNameProblem,
  type Offer,
  type Reply,
} from "./transfer.ts";

/** How far a transfer has come. */
export interface TransferProgress {
  /** Bytes of the file sent (accepted into the send buffer) or received so far. */
  done: number;
  /** The file's size. */
  total: number;
}

/** The result of a finished transfer. */
export interface TransferResult {
  name: string;
  bytes: number;
  /** Where the receiver saved it (receiver only). */
  path?: string;
}

const CHUNK = 64 * 1024;

/** Reads exact amounts from a connection, keeping what was read beyond. */
class ConnReader {
  #buf = new Uint8Array(0);
  #scratch = new Uint8Array(CHUNK);
  constructor(readonly conn: LrpConnection, readonly signal?: AbortSignal) {}

  get buffered(): Uint8Array {
    return this.#buf;
  }

  /** Reads more; false at the end of the stream. */
  async more(): Promise<boolean> {
    const n = await this.conn.read(this.#scratch, { signal: this.signal });
    if (n === null) return false;
    const b = new Uint8Array(this.#buf.length + n);
    b.set(this.#buf);
    b.set(this.#scratch.subarray(0, n), this.#buf.length);
    this.#buf = b;
    return true;
  }

  /** Up to `max` bytes (what is buffered first), or null at the end of the stream. */
  async take(max: number): Promise<Uint8Array | null> {
    if (this.#buf.length === 0 && !(await this.more())) return null;
    const out = this.#buf.subarray(0, Math.min(max, this.#buf.length));
    this.#buf = this.#buf.subarray(out.length);
    return out;
  }

  consume(n: number): void {
    this.#buf = this.#buf.subarray(n);
  }

  /** Decodes a message with `decode`, reading as needed; null at the end of the stream. */
  async message<T>(
    decode: (b: Uint8Array) => { length: number } & T | "short" | Error,
  ): Promise<T | null> {
    for (;;) {
      const r = decode(this.#buf);
      if (r instanceof Error) throw r;
      if (r !== "short") {
        this.consume(r.length);
        return r;
      }
      if (!(await this.more())) return null;
    }
  }
}

/**
 * Sends the file at `path` as `name` (default: its base name) and waits for the receiver's reply.
 *
 * @throws {Error} When the file cannot be read, the connection fails, or the receiver refuses or
 * reports a failure (the message says which).
 */
export async function sendFile(
  conn: LrpConnection,
  path: string,
  options: {
    name?: string;
    signal?: AbortSignal;
    onProgress?: (p: TransferProgress) => void;
  } = {},
): Promise<TransferResult> {
  const { signal, onProgress } = options;
  const name = options.name ?? path.slice(path.lastIndexOf("/") + 1);
  const file = await Deno.open(path, { read: true });
  try {
    const info = await file.stat();
    if (!info.isFile) throw new Error(`${path} is not a regular file`);
    const size = info.size;
    await conn.write(encodeOffer({ name, size }), { signal });
    // the receiver may answer early (a refusal): read its reply while sending
    const reader = new ConnReader(conn, signal);
    let early: Reply | null | undefined;
    const replied = reader.message<{ reply: Reply }>(decodeReply).then((r) => {
      early = r?.reply ?? null;
      return early;
    });
    replied.catch(() => {});
    const hash = createHash("sha256");
    const buf = new Uint8Array(CHUNK);
    let done = 0;
    onProgress?.({ done, total: size });
    while (done < size && early === undefined) {
      const n = await file.read(buf.subarray(0, Math.min(CHUNK, size - done)));
      if (n === null) throw new Error(`${path} shrank while being sent`);
      hash.update(buf.subarray(0, n));
      await conn.write(buf.slice(0, n), { signal });
      done += n;
      onProgress?.({ done, total: size });
    }
    if (early === undefined) await conn.write(new Uint8Array(hash.digest()), { signal });
    const reply = await replied;
    if (reply === null) throw new Error("the receiver closed the connection without a reply");
    if (!reply.ok) throw new Error(`the receiver refused: ${reply.message}`);
    return { name, bytes: size };
  } finally {
    file.close();
  }
}

/** Options of {@linkcode receiveFile}. */
export interface ReceiveOptions {
  /** Replace a file of the same name. @default {false} */
  overwrite?: boolean;
  /** Refuse offers larger than this. */
  maxBytes?: number;
  signal?: AbortSignal;
  /** Called once the offer is read. */
  onOffer?: (offer: Offer) => void;
  onProgress?: (p: TransferProgress) => void;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/** A transfer the receiver refused or that failed; the sender was told when it could be. */
export class TransferError extends Error {
  override name = "TransferError";
}

/**
 * Receives one file from `conn` into the directory `dir`: the bytes go to `<dir>/<name>.part`,
 * which becomes `<dir>/<name>` only once the SHA-256 matched; otherwise it is removed. The sender
 * gets the outcome in-band either way.
 *
 * @throws {TransferError} When the offer is refused or the transfer fails.
 */
export async function receiveFile(
  conn: LrpConnection,
  dir: string,
  options: ReceiveOptions = {},
): Promise<TransferResult> {
  const { signal, onProgress } = options;
  const reader = new ConnReader(conn, signal);
  const refuse = async (message: string, cause?: unknown): Promise<never> => {
    await conn.write(encodeReply({ ok: false, message }), { signal }).catch(() => {});
    throw new TransferError(message, { cause });
  };
  let got: { offer: Offer } | null;
  try {
    got = await reader.message<{ offer: Offer }>(decodeOffer);
  } catch (err) {
    return await refuse((err as Error).message, err);
  }
  if (got === null) throw new TransferError("the sender closed before offering a file");
  const { name, size } = got.offer;
  options.onOffer?.(got.offer);
  const problem = fileNameProblem(name); // decodeOffer checked it; never trust one place only
  if (problem) return await refuse(problem);
  if (options.maxBytes !== undefined && size > options.maxBytes) {
    return await refuse(`${name}: ${size} bytes is over the limit of ${options.maxBytes}`);
  }
  const final = `${dir}/${name}`;
  const part = `${final}.part`;
  if (!options.overwrite && await exists(final)) return await refuse(`${name} exists already`);
  let file: Deno.FsFile;
  try {
    file = await Deno.open(part, { write: true, create: true, truncate: true });
  } catch (err) {
    return await refuse(`cannot write ${name}: ${(err as Error).message}`, err);
  }
  let closed = false;
  try {
    const hash = createHash("sha256");
    let done = 0;
    onProgress?.({ done, total: size });
    while (done < size) {
      const chunk = await reader.take(Math.min(CHUNK, size - done));
      if (chunk === null) {
        throw new TransferError(`the sender stopped after ${done} of ${size} bytes`);
      }
      hash.update(chunk);
      for (let at = 0; at < chunk.length;) at += await file.write(chunk.subarray(at));
      done += chunk.length;
      onProgress?.({ done, total: size });
    }
    let digest: Uint8Array = new Uint8Array(0);
    while (digest.length < DIGEST_BYTES) {
      const chunk = await reader.take(DIGEST_BYTES - digest.length);
      if (chunk === null) throw new TransferError("the sender stopped before the SHA-256");
      digest = concat(digest, chunk);
    }
    const ours = new Uint8Array(hash.digest());
    if (!equal(ours, digest)) return await refuse(`${name}: the SHA-256 does not match`);
    await file.sync();
    file.close();
    closed = true;
    if (options.overwrite) await Deno.rename(part, final);
    else {
      try {
        await Deno.link(part, final);
      } catch (err) {
        if (err instanceof Deno.errors.AlreadyExists) {
          return await refuse(`${name} exists already`);
        }
        throw err;
      }
      await Deno.remove(part);
    }
    await conn.write(encodeReply({ ok: true, message: `saved ${name} (${size} bytes)` }), {
      signal,
    });
    return { name, bytes: size, path: final };
  } catch (err) {
    if (!(err instanceof TransferError)) {
      await conn.write(encodeReply({ ok: false, message: (err as Error).message })).catch(
        () => {},
      );
    }
    throw err;
  } finally {
    if (!closed) file.close();
    await Deno.remove(part).catch(() => {});
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

/**
 * Ends a connection after a transfer: a graceful close, while what the peer still sends is read
 * and dropped (so a sender that was refused is not left waiting on a full receive buffer).
 */
export async function finishConnection(conn: LrpConnection): Promise<void> {
  const drain = (async () => {
    const buf = new Uint8Array(CHUNK);
    try {
      while ((await conn.read(buf)) !== null) { /* dropped */ }
    } catch { /* the connection failed: nothing more to read */ }
  })();
  await conn.close().catch(() => {});
  await drain;
}

/** What {@linkcode serveFiles} reports. */
export type ServeEvent =
  | { type: "connection"; conn: LrpConnection }
  | { type: "offer"; conn: LrpConnection; offer: Offer }
  | { type: "progress"; conn: LrpConnection; progress: TransferProgress }
  | { type: "saved"; conn: LrpConnection; result: TransferResult }
  | { type: "failed"; conn: LrpConnection; error: Error };

/** Options of {@linkcode serveFiles}. */
export interface ServeFilesOptions {
  /** Stop after the first transfer (saved or failed). @default {false} */
  once?: boolean;
  overwrite?: boolean;
  maxBytes?: number;
  /** Aborting stops: the transfer under way fails and its `.part` file is removed. */
  signal?: AbortSignal;
  onEvent?: (e: ServeEvent) => void;
}

/**
 * Accepts connections on `socket` and receives one file from each into `dir`, one connection
 * after another (others wait in the accept backlog). Resolves when `signal` is aborted or, with
 * `once`, after the first transfer; returns how many files were saved and how many failed.
 */
export async function serveFiles(
  socket: PeerSocket,
  dir: string,
  options: ServeFilesOptions = {},
): Promise<{ saved: number; failed: number }> {
  const { signal, onEvent } = options;
  let saved = 0, failed = 0;
  while (!signal?.aborted) {
    let conn: LrpConnection;
    try {
      conn = await socket.accept({ signal });
    } catch (err) {
      if (signal?.aborted) break;
      throw err;
    }
    onEvent?.({ type: "connection", conn });
    try {
      const result = await receiveFile(conn, dir, {
        overwrite: options.overwrite,
        maxBytes: options.maxBytes,
        signal,
        onOffer: (offer) => onEvent?.({ type: "offer", conn, offer }),
        onProgress: (progress) => onEvent?.({ type: "progress", conn, progress }),
      });
      saved++;
      onEvent?.({ type: "saved", conn, result });
    } catch (err) {
      failed++;
      onEvent?.({ type: "failed", conn, error: err as Error });
    }
    if (signal?.aborted) await conn.writable.abort().catch(() => {});
    else await finishConnection(conn);
    if (options.once) break;
  }
  return { saved, failed };
}
