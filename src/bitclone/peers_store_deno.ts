/**
 * Reading and writing the BitClone peer's `peers.json` on disk (spec §A.9; the format is
 * `peers_file.ts`'s): {@linkcode loadPeersFile} at start — a missing file is an empty book, a
 * damaged one is set aside as `<file>.bad-<timestamp>` with a warning and never stops the peer —
 * and {@linkcode peersFileSaver} for `save` actions — written atomically (`<file>.tmp`, then a
 * rename, with `src/node/files.ts`, so that a forced exit never leaves a `.tmp`), and not at all
 * when the text would not change.
 *
 * @module
 */
import { writeFileAtomic } from "../node/mod.ts";
import { formatPeersFile, parsePeersFile } from "./peers_file.ts";
import type { SavedPeer } from "./peer_node_types.ts";

/** The largest file read; a larger one is damaged (the parser looks at 16 MiB at most). */
const FILE_BYTES_MAX = 16 * 1024 * 1024;

/** What {@linkcode loadPeersFile} found. */
export interface LoadedPeersFile {
  /** The usable entries (empty when the file is missing or damaged). */
  peers: SavedPeer[];
  /** Everything worth a warning line: skipped entries, a damaged or unreadable file. */
  warnings: string[];
  /** Whether there was no file. */
  missing: boolean;
  /** Where a damaged file was moved, if it was. */
  movedTo?: string;
  /** The file's entries as {@linkcode formatPeersFile} writes them (skip writing the same). */
  text: string;
}

/** Options of {@linkcode loadPeersFile}. */
export interface LoadPeersFileOptions {
  /**
   * The wall clock for the name of a set-aside file.
   *
   * @default {() => new Date()}
   */
  date?: () => Date;
  /**
   * Never touch the file: a damaged one is reported but not moved aside (the seed list).
   *
   * @default {false}
   */
  readOnly?: boolean;
}

/** `2026-11-22T02:10:50.123Z` → `20261122T021050.123Z`. */
function stamp(date: Date): string {
  return date.toISOString().replaceAll("-", "").replaceAll(":", "");
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Reads the address book at `path`. Never throws: a missing file gives an empty book; an
 * unreadable one an empty book and a warning; a damaged one (not JSON, not an array, too large)
 * an empty book, a warning, and the file renamed to `<path>.bad-<timestamp>` so that the next
 * save does not destroy it.
 *
 * @param path The file (usually `peers.json`).
 * @param options The clock for the set-aside name.
 * @returns The entries, warnings, and what happened to the file.
 *
 * @example Load, log the warnings, start from what is left
 * ```ts ignore
 * import { loadPeersFile } from "./peers_store_deno.ts";
 * const loaded = await loadPeersFile("peers.json");
 * for (const w of loaded.warnings) console.warn(w);
 * console.log(`${loaded.peers.length} saved peers`);
 * ```
 */
export async function loadPeersFile(
  path: string,
  options: LoadPeersFileOptions = {},
): Promise<LoadedPeersFile> {
  const { date = () => new Date(), readOnly = false } = options;
  const empty = (warnings: string[], extra: Partial<LoadedPeersFile> = {}): LoadedPeersFile => ({
    peers: [],
    warnings,
    missing: false,
    text: formatPeersFile([]),
    ...extra,
  });
  let text: string;
  let tooLarge = false;
  try {
    const info = await Deno.stat(path);
    if (!info.isFile) return empty([`peers file ${path}: not a regular file, not used`]);
    if (info.size > FILE_BYTES_MAX) tooLarge = true;
    text = tooLarge ? "" : await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return empty([], { missing: true });
    return empty([`peers file ${path}: cannot read it (${errorText(err)}), not used`]);
  }
  const parsed = tooLarge
    ? {
      peers: [],
      warnings: [`peers file: larger than ${FILE_BYTES_MAX} bytes`],
      damaged: true,
    }
    : parsePeersFile(text);
  if (!parsed.damaged) {
    return {
      peers: parsed.peers,
      warnings: parsed.warnings.map((w) => `${path}: ${w}`),
      missing: false,
      text: formatPeersFile(parsed.peers),
    };
  }
  const aside = `${path}.bad-${stamp(date())}`;
  const warnings = parsed.warnings.map((w) => `${path}: ${w}`);
  if (readOnly) {
    warnings.push(`${path}: damaged, not used`);
    return empty(warnings);
  }
  try {
    await Deno.rename(path, aside);
    warnings.push(`${path}: damaged, moved to ${aside}; starting from the command-line peers`);
    return empty(warnings, { movedTo: aside });
  } catch (err) {
    warnings.push(
      `${path}: damaged and cannot be moved aside (${errorText(err)}); ` +
        "starting from the command-line peers",
    );
    return empty(warnings);
  }
}

/**
 * Writes `peers` to `path` atomically: the text goes to `<path>.tmp`, which is then renamed over
 * `path`, so a reader (or a crash) sees the old file or the new one, never half of one.
 *
 * @param path The file.
 * @param peers The entries (the `peers` of a `save` action).
 * @returns The text written.
 *
 * @example
 * ```ts ignore
 * import { writePeersFile } from "./peers_store_deno.ts";
 * await writePeersFile("peers.json", [{ address: "10.0.0.5:8333" }]);
 * ```
 */
export async function writePeersFile(path: string, peers: readonly SavedPeer[]): Promise<string> {
  const text = formatPeersFile(peers);
  await writeFileAtomic(path, text);
  return text;
}

/**
 * A save function for the adapter's `save` option: writes with {@linkcode writePeersFile}, but
 * only when the text differs from the last one written (or loaded, `lastText`), so that an idle
 * peer never rewrites its file. The function resolves to whether it wrote the file (once the rename
 * succeeded), and rejects when writing failed.
 *
 * @param path The file.
 * @param lastText The file's current text as {@linkcode formatPeersFile} would write it.
 * @returns The save function.
 *
 * @example
 * ```ts ignore
 * import { loadPeersFile, peersFileSaver } from "./peers_store_deno.ts";
 * const loaded = await loadPeersFile("peers.json");
 * const save = peersFileSaver("peers.json", loaded.text);
 * await save(loaded.peers); // nothing written: unchanged
 * ```
 */
export function peersFileSaver(
  path: string,
  lastText?: string,
): (peers: readonly SavedPeer[]) => Promise<boolean> {
  let last = lastText;
  return async (peers) => {
    if (formatPeersFile(peers) === last) return false;
    last = await writePeersFile(path, peers);
    return true;
  };
}
