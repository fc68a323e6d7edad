/**
 * LRP2P identities as text: the key file format, hex public keys (`--allow KEY`, `--expect KEY`)
 * and short fingerprints. Pure: the file I/O is in `keys_deno.ts`.
 *
 * The key file is three lines of ASCII (a trailing newline and blank lines are ignored):
 *
 * ```
 * lrp2p-key 1
 * private <64 lowercase hex digits: the X25519 private key>
 * public <64 lowercase hex digits: its public key>
 * ```
 *
 * The public line is redundant: it is checked against the private key on load, so a file edited
 * by hand, truncated or swapped is refused rather than giving a different identity.
 *
 * @module
 */

import { sha256 } from "@noble/hashes/sha2.js";
import { type KeyPair, keyPairFrom } from "./noise.ts";

/** The first line of a key file. */
export const KEY_FILE_MAGIC = "lrp2p-key 1";

/** A key file that cannot be used: the message says why. */
export class KeyFileError extends Error {
  override name = "KeyFileError";
}

/**
 * Lowercase hex of `bytes`.
 *
 * @example
 * ```ts
 * import { toHex } from "./keys.ts";
 * import assert from "node:assert/strict";
 * assert.equal(toHex(new Uint8Array([0, 255])), "00ff");
 * ```
 */
export function toHex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

/**
 * A 32-byte key from exactly 64 hex digits (either case, surrounding spaces ignored), or
 * `undefined`.
 *
 * @example
 * ```ts
 * import { parseHexKey } from "./keys.ts";
 * import assert from "node:assert/strict";
 * assert.equal(parseHexKey("ab".repeat(32))?.[0], 0xab);
 * assert.equal(parseHexKey("ab"), undefined);
 * ```
 */
export function parseHexKey(text: string): Uint8Array | undefined {
  const t = text.trim();
  if (!/^[0-9a-fA-F]{64}$/.test(t)) return undefined;
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = parseInt(t.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/**
 * The text of a key file for `keyPair`.
 *
 * @example
 * ```ts
 * import { formatKeyFile, parseKeyFile } from "./keys.ts";
 * import { keyPairFrom } from "./noise.ts";
 * import assert from "node:assert/strict";
 * const kp = keyPairFrom(new Uint8Array(32).fill(7));
 * const text = formatKeyFile(kp);
 * assert.ok(text.startsWith("lrp2p-key 1\n"));
 * assert.deepEqual(parseKeyFile(text), kp);
 * ```
 */
export function formatKeyFile(keyPair: KeyPair): string {
  return `${KEY_FILE_MAGIC}\nprivate ${toHex(keyPair.privateKey)}\npublic ${
    toHex(keyPair.publicKey)
  }\n`;
}

/**
 * Reads a key file's text; the public key must match the private one.
 *
 * @throws {KeyFileError} When the text is not a key file of this format.
 */
export function parseKeyFile(text: string): KeyPair {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== "");
  if (lines[0] !== KEY_FILE_MAGIC) {
    throw new KeyFileError(`not an lrp2p key file (the first line must be '${KEY_FILE_MAGIC}')`);
  }
  let priv: Uint8Array | undefined, pub: Uint8Array | undefined;
  for (const line of lines.slice(1)) {
    const [word, value = "", ...extra] = line.split(/\s+/);
    const key = extra.length === 0 ? parseHexKey(value) : undefined;
    if (word !== "private" && word !== "public") {
      throw new KeyFileError(`unknown line '${word}' (expected 'private' and 'public')`);
    }
    if (!key) throw new KeyFileError(`the ${word} key must be 64 hex digits`);
    if ((word === "private" ? priv : pub) !== undefined) {
      throw new KeyFileError(`the ${word} key is given twice`);
    }
    if (word === "private") priv = key;
    else pub = key;
  }
  if (!priv) throw new KeyFileError("no private key");
  const kp = keyPairFrom(priv);
  if (pub && toHex(pub) !== toHex(kp.publicKey)) {
    throw new KeyFileError("the public key does not belong to the private key");
  }
  return kp;
}

/**
 * A short fingerprint of a public key for people: the first 8 bytes of its SHA-256 in hex, in
 * groups of four digits (`SHA256:1a2b:3c4d:5e6f:7a8b`). The full 64-digit hex key is the identity
 * (`--allow`, `--expect`); the fingerprint is for comparing by eye.
 *
 * @example
 * ```ts
 * import { fingerprint } from "./keys.ts";
 * import assert from "node:assert/strict";
 * assert.match(fingerprint(new Uint8Array(32)), /^SHA256:([0-9a-f]{4}:){3}[0-9a-f]{4}$/);
 * ```
 */
export function fingerprint(publicKey: Uint8Array): string {
  const h = toHex(sha256(publicKey).subarray(0, 8));
  return `SHA256:${h.match(/.{4}/g)!.join(":")}`;
}
