/**
 * Package-private I/O helpers of the Part 1 adapters (`server.ts`, `client.ts`): a cancellable
 * timer as a promise and a complete write. An adapter file, not a core.
 *
 * @module
 */

/** What a {@linkcode sleep} resolves to when its time came. */
export const TIMER = Symbol("timer");
/** What a {@linkcode sleep} resolves to when it was cancelled first. */
export const CANCELLED = Symbol("cancelled");
/** What a failed read is mapped to (reset, or closed under it). */
export const FAILED = Symbol("failed");

/** A timer as a promise; `cancel()` clears it and settles the promise with `CANCELLED`. */
export interface Sleep {
  readonly promise: Promise<typeof TIMER | typeof CANCELLED>;
  cancel(): void;
}

/** Starts a timer of `ms` milliseconds (negative counts as 0). */
export function sleep(ms: number): Sleep {
  let id: ReturnType<typeof setTimeout> | undefined;
  let settle: (v: typeof TIMER | typeof CANCELLED) => void = () => {};
  const promise = new Promise<typeof TIMER | typeof CANCELLED>((resolve) => {
    settle = resolve;
    id = setTimeout(() => resolve(TIMER), Math.max(0, ms));
  });
  return {
    promise,
    cancel() {
      clearTimeout(id);
      settle(CANCELLED);
    },
  };
}

/** Writes every byte (a short write continues where it stopped). */
export async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
}

/** Starts a read into `buf`; a failure resolves to `FAILED` instead of rejecting. */
export function readOrFail(
  conn: Deno.Conn,
  buf: Uint8Array,
): Promise<number | null | typeof FAILED> {
  return conn.read(buf).catch(() => FAILED);
}
