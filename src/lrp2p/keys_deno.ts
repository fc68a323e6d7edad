/**
 * Key files on disk (format in `keys.ts`): written atomically (a temporary file with mode 0600,
 * then a link or rename), never world-readable, and never overwritten unless asked.
 *
 * @module
 */

import { formatKeyFile, KeyFileError, parseKeyFile } from "./keys.ts";
import { generateKeyPair, type KeyPair } from "./noise.ts";

/**
 * Reads the key pair in the key file at `path`.
 *
 * @throws {KeyFileError} When the file is missing, unreadable or not a key file (the message
 * names the file).
 */
export async function loadKey(path: string): Promise<KeyPair> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    const why = err instanceof Deno.errors.NotFound ? "no such file" : (err as Error).message;
    throw new KeyFileError(`cannot read key file ${path}: ${why}`, { cause: err });
  }
  try {
    return parseKeyFile(text);
  } catch (err) {
    throw new KeyFileError(`key file ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Writes `keyPair` to `path` with mode 0600: first to `<path>.<random>.tmp`, then linked to
 * `path` (which fails if `path` exists, unless `overwrite`, when it is renamed over it). The
 * parent directory is created if missing.
 *
 * @throws {Deno.errors.AlreadyExists} When `path` exists and `overwrite` is not set.
 */
export async function saveKey(
  path: string,
  keyPair: KeyPair,
  options: { overwrite?: boolean } = {},
): Promise<void> {
  const slash = path.lastIndexOf("/");
  if (slash > 0) await Deno.mkdir(path.slice(0, slash), { recursive: true });
  const suffix = Array.from(crypto.getRandomValues(new Uint8Array(6)), (b) => b.toString(16))
    .join("");
  const tmp = `${path}.${suffix}.tmp`;
  try {
    const f = await Deno.open(tmp, { write: true, createNew: true, mode: 0o600 });
    try {
      const bytes = new TextEncoder().encode(formatKeyFile(keyPair));
      for (let at = 0; at < bytes.length;) at += await f.write(bytes.subarray(at));
      await f.sync();
    } finally {
      f.close();
    }
    await Deno.chmod(tmp, 0o600); // whatever the umask
    if (options.overwrite) await Deno.rename(tmp, path);
    else await Deno.link(tmp, path);
  } finally {
    await Deno.remove(tmp).catch(() => {});
  }
}

/**
 * Loads the key file at `path`, or creates one with a fresh key pair if there is none.
 *
 * @returns The key pair and whether it was created now.
 * @throws {KeyFileError} When the file exists but cannot be used.
 */
export async function loadOrCreateKey(
  path: string,
): Promise<{ keyPair: KeyPair; created: boolean }> {
  try {
    return { keyPair: await loadKey(path), created: false };
  } catch (err) {
    if (!((err as Error).cause instanceof Deno.errors.NotFound)) throw err;
  }
  const keyPair = generateKeyPair((n) => crypto.getRandomValues(new Uint8Array(n)));
  try {
    await saveKey(path, keyPair);
  } catch (err) {
    // another process created it meanwhile: use theirs
    if (err instanceof Deno.errors.AlreadyExists) {
      return { keyPair: await loadKey(path), created: false };
    }
    throw err;
  }
  return { keyPair, created: true };
}
