/**
 * Files that must never be left half-written: {@linkcode writeFileAtomic} writes `<file>.tmp` and
 * renames it over the file, and keeps track of the writes under way, so that a forced exit (a
 * second Ctrl-C) can wait for them with {@linkcode settleFileWrites} and remove a `.tmp` left
 * behind. {@linkcode checkWritable} tells at start whether a file could be saved at all.
 *
 * @module
 */

/** Writes under way, by their temporary file. */
const pending = new Map<string, Promise<unknown>>();
/** Set once a forced exit began: no new write may start (it could leave a `.tmp` behind). */
let draining = false;

function dirOf(path: string): string {
  const i = path.lastIndexOf("/");
  if (i < 0) return ".";
  return i === 0 ? "/" : path.slice(0, i);
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Writes `text` to `path` atomically: to `<path>.tmp`, then a rename over `path`. A reader, a
 * crash or a forced exit sees the old file or the new one, never half of one; a failed write
 * removes its `.tmp`. Resolves only once the rename succeeded.
 *
 * @param path The file.
 * @param text Its new content.
 * @throws {Deno.errors.NotFound} and other I/O errors: the file is left as it was.
 *
 * @example
 * ```ts ignore
 * import { writeFileAtomic } from "./files.ts";
 * await writeFileAtomic("data/peers.json", "[]\n");
 * ```
 */
export async function writeFileAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp`;
  // The process exits at once: a write begun now could leave its temporary file behind, so it
  // never begins, and the caller (which would report it done) never resumes.
  if (draining) return new Promise<void>(() => {});
  const previous = pending.get(tmp);
  if (previous) await previous.catch(() => {});
  const write = (async () => {
    try {
      await Deno.writeTextFile(tmp, text);
      await Deno.rename(tmp, path);
    } catch (err) {
      await Deno.remove(tmp).catch(() => {});
      throw err;
    }
  })();
  pending.set(tmp, write);
  try {
    await write;
  } finally {
    if (pending.get(tmp) === write) pending.delete(tmp);
  }
}

/**
 * Waits, at most `timeoutMs`, for the {@linkcode writeFileAtomic} calls under way, then removes
 * the temporary file of any still unfinished: what a forced exit calls before `Deno.exit`. From
 * the call on, no new write begins (a later {@linkcode writeFileAtomic} never settles), so none can
 * leave its temporary file behind.
 *
 * @param timeoutMs How long to wait for the writes.
 * @returns The temporary files removed (writes cut short).
 *
 * @example
 * ```ts
 * import { settleFileWrites } from "./files.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(await settleFileWrites(1000), []); // no write under way: nothing to remove
 * ```
 */
export async function settleFileWrites(timeoutMs: number): Promise<string[]> {
  draining = true;
  if (pending.size > 0) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.allSettled([...pending.values()]),
      new Promise((resolve) => timer = setTimeout(resolve, timeoutMs)),
    ]);
    clearTimeout(timer);
  }
  const removed: string[] = [];
  for (const tmp of pending.keys()) {
    try {
      Deno.removeSync(tmp);
      removed.push(tmp);
    } catch {
      // already gone
    }
  }
  return removed;
}

/**
 * Checks that `path` could be saved atomically: creates its directory if missing, then writes and
 * removes `<path>.tmp`. Real permissions are tried (root included), not guessed from modes.
 *
 * @param path The file to be written later.
 * @returns `undefined` when it can be written, or why not.
 *
 * @example
 * ```ts ignore
 * import { checkWritable } from "./files.ts";
 * const why = await checkWritable("data/peers.json");
 * if (why) console.warn(`the address book will not be saved: ${why}`);
 * ```
 */
export async function checkWritable(path: string): Promise<string | undefined> {
  const dir = dirOf(path);
  try {
    await Deno.mkdir(dir, { recursive: true });
  } catch (err) {
    return `cannot create directory ${dir} (${errorText(err)})`;
  }
  const tmp = `${path}.tmp`;
  try {
    await Deno.writeTextFile(tmp, "");
  } catch (err) {
    return `cannot write in ${dir} (${errorText(err)})`;
  }
  await Deno.remove(tmp).catch(() => {});
  try {
    const info = await Deno.stat(path);
    if (!info.isFile) return `${path} is not a regular file`;
  } catch {
    // missing: fine
  }
  return undefined;
}
