/**
 * The order of versions (spec `kv.md` §6.5): by Lamport `clock`, then by `origin` compared byte-wise
 * on its UTF-8 encoding. The larger version wins (last writer wins with a deterministic tie-break).
 *
 * @module
 */
import type { Version } from "./types.ts";

const encoder = new TextEncoder();

/**
 * Compares two strings by their UTF-8 bytes (the order of code points, except that a lone
 * surrogate counts as U+FFFD, which is what UTF-8 encoding turns it into).
 *
 * @returns A negative number when `a` sorts first, 0 when the encodings are equal, positive
 * otherwise.
 * @example UTF-8 order differs from JavaScript's UTF-16 order above the BMP
 * ```ts
 * import { compareUtf8 } from "./version.ts";
 * import assert from "node:assert/strict";
 * assert.ok(compareUtf8("a", "b") < 0);
 * assert.ok("\u{1F600}" < "\uFF61"); // UTF-16 code units: 0xD83D < 0xFF61
 * assert.ok(compareUtf8("\u{1F600}", "\uFF61") > 0); // UTF-8: F0 … > EF …
 * assert.equal(compareUtf8("ab", "ab"), 0);
 * ```
 */
export function compareUtf8(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  if (i === n) {
    // one is a prefix of the other; a lone high surrogate at the end of the shorter one is still
    // encoded the same as at the start of a pair only if it pairs, so fall back when one is there
    if (!isSurrogate(a.charCodeAt(i - 1))) return a.length - b.length;
    return compareBytes(encoder.encode(a), encoder.encode(b));
  }
  const x = a.charCodeAt(i), y = b.charCodeAt(i);
  if (!isSurrogate(x) && !isSurrogate(y) && (i === 0 || !isSurrogate(a.charCodeAt(i - 1)))) {
    return x - y; // BMP code points outside the surrogates keep their order in UTF-8
  }
  return compareBytes(encoder.encode(a), encoder.encode(b));
}

function isSurrogate(u: number): boolean {
  return u >= 0xd800 && u <= 0xdfff;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

/**
 * Compares two versions: by `clock` (numeric), then by `origin` (UTF-8 byte order).
 *
 * @returns Negative when `a` is older, 0 when they are the same version, positive when `a` is newer.
 * @example
 * ```ts
 * import { compareVersions } from "./version.ts";
 * import assert from "node:assert/strict";
 * assert.ok(compareVersions({ clock: 2, origin: "a" }, { clock: 1, origin: "z" }) > 0);
 * assert.ok(compareVersions({ clock: 5, origin: "ts-a" }, { clock: 5, origin: "ts-b" }) < 0);
 * assert.equal(compareVersions({ clock: 5, origin: "n" }, { clock: 5, origin: "n" }), 0);
 * ```
 */
export function compareVersions(a: Version, b: Version): number {
  if (a.clock !== b.clock) return a.clock < b.clock ? -1 : 1;
  const c = compareUtf8(a.origin, b.origin);
  return c < 0 ? -1 : c > 0 ? 1 : 0;
}

/**
 * Whether `candidate` should replace `stored`: true when nothing is stored or the candidate is
 * strictly newer (an equal version is a duplicate, not an update).
 *
 * @example
 * ```ts
 * import { isNewer } from "./version.ts";
 * import assert from "node:assert/strict";
 * assert.equal(isNewer({ clock: 1, origin: "a" }), true);
 * assert.equal(isNewer({ clock: 3, origin: "a" }, { clock: 2, origin: "b" }), true);
 * assert.equal(isNewer({ clock: 2, origin: "b" }, { clock: 2, origin: "b" }), false);
 * assert.equal(isNewer({ clock: 2, origin: "a" }, { clock: 2, origin: "b" }), false);
 * ```
 */
export function isNewer(candidate: Version, stored?: Version): boolean {
  return stored === undefined || compareVersions(candidate, stored) > 0;
}
