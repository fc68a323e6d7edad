/**
 * The LRP2P handshake (spec lrp2p.md §3): `Noise_XX_25519_ChaChaPoly_BLAKE2b` with an empty
 * prologue and empty payloads, built from @noble primitives. Pure: keys (including ephemeral
 * ones) come in from the caller, randomness as a function.
 *
 * Every `read*` method works on a copy of the handshake state and keeps the original on failure,
 * so a forged or corrupted message never spoils a handshake (§8.1). `write*` methods return the
 * same bytes on every call, so resends are byte-identical.
 *
 * @module
 */
import { x25519 } from "@noble/curves/ed25519.js";
import { blake2b } from "@noble/hashes/blake2.js";
import { hmac } from "@noble/hashes/hmac.js";
import { chacha20poly1305 } from "@noble/ciphers/chacha.js";

/** ASCII protocol name (33 bytes). */
export const PROTOCOL_NAME = "Noise_XX_25519_ChaChaPoly_BLAKE2b";
/** Handshake message sizes with empty payloads: 32, 96 and 64 bytes. */
export const MESSAGE1_LEN = 32, MESSAGE2_LEN = 96, MESSAGE3_LEN = 64;

const DHLEN = 32;
const EMPTY = new Uint8Array(0);

/** An X25519 key pair (32-byte keys; the private key is used as given, X25519 clamps it). */
export interface KeyPair {
  privateKey: Uint8Array;
  publicKey: Uint8Array;
}

/** What a completed handshake yields: the transport keys of this side and the peer's identity. */
export interface HandshakeResult {
  /** Key encrypting what this side sends (initiator: c1; responder: c2). */
  sendKey: Uint8Array;
  /** Key decrypting what this side receives (initiator: c2; responder: c1). */
  recvKey: Uint8Array;
  /** The peer's static public key (32 bytes). */
  remoteStatic: Uint8Array;
  /** The final handshake hash h (64 bytes), equal on both sides. */
  handshakeHash: Uint8Array;
}

/**
 * Builds a key pair from a 32-byte private key. Throws a RangeError on another length.
 *
 * @example The initiator static key of §3.6
 * ```ts
 * import { keyPairFrom } from "./noise.ts";
 * import assert from "node:assert/strict";
 * const priv = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
 * const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
 * assert.equal(
 *   hex(keyPairFrom(priv).publicKey),
 *   "07a37cbc142093c8b755dc1b10e86cb426374ad16aa853ed0bdfc0b2b86d1c7c",
 * );
 * ```
 */
export function keyPairFrom(privateKey: Uint8Array): KeyPair {
  if (privateKey.length !== DHLEN) {
    throw new RangeError(`X25519 private key must be 32 bytes, got ${privateKey.length}`);
  }
  const priv = privateKey.slice();
  return { privateKey: priv, publicKey: x25519.getPublicKey(priv) };
}

/**
 * Generates a key pair from 32 bytes of `random` (pass `crypto.getRandomValues`-backed bytes in
 * live code, a seeded Prng's `bytes` in tests).
 *
 * @example
 * ```ts
 * import { generateKeyPair, keyPairFrom } from "./noise.ts";
 * import assert from "node:assert/strict";
 * const kp = generateKeyPair((n) => new Uint8Array(n).fill(9));
 * assert.deepEqual(kp, keyPairFrom(new Uint8Array(32).fill(9)));
 * ```
 */
export function generateKeyPair(random: (n: number) => Uint8Array): KeyPair {
  return keyPairFrom(random(DHLEN));
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** HMAC-BLAKE2b (block 128, output 64), §3.2. */
function hmacB2(key: Uint8Array, data: Uint8Array): Uint8Array {
  return hmac(blake2b, key, data);
}

/** HKDF2 of §3.2: two 64-byte outputs. */
function hkdf2(ck: Uint8Array, ikm: Uint8Array): [Uint8Array, Uint8Array] {
  const t = hmacB2(ck, ikm);
  const o1 = hmacB2(t, Uint8Array.of(0x01));
  const o2 = hmacB2(t, concat(o1, Uint8Array.of(0x02)));
  return [o1, o2];
}

/**
 * The 12-byte ChaCha20-Poly1305 nonce of counter `n`: 4 zero bytes || LE64(n) (§3.2).
 *
 * @example
 * ```ts
 * import { noiseNonce } from "./noise.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual([...noiseNonce(0x0102n)], [0, 0, 0, 0, 2, 1, 0, 0, 0, 0, 0, 0]);
 * ```
 */
export function noiseNonce(n: bigint): Uint8Array<ArrayBuffer> {
  const nonce = new Uint8Array(12);
  new DataView(nonce.buffer).setBigUint64(4, n, true);
  return nonce;
}

/** X25519 that refuses low-order public keys (an all-zero result), §3.4. */
function dh(priv: Uint8Array, pub: Uint8Array): Uint8Array {
  const out = x25519.getSharedSecret(priv, pub); // @noble throws on an all-zero result
  if (out.every((b) => b === 0)) throw new Error("X25519 result is all zero (low-order key)");
  return out;
}

/** The symmetric state of §3.3 (immutable copies via `clone`). */
class SymmetricState {
  constructor(
    public ck: Uint8Array,
    public h: Uint8Array,
    public k: Uint8Array | undefined,
    public n: bigint,
  ) {}

  static init(): SymmetricState {
    const h = new Uint8Array(64);
    h.set(new TextEncoder().encode(PROTOCOL_NAME));
    const ck = h.slice();
    return new SymmetricState(ck, blake2b(h), undefined, 0n); // empty prologue
  }

  clone(): SymmetricState {
    return new SymmetricState(this.ck, this.h, this.k, this.n); // fields are replaced, never mutated
  }

  mixHash(d: Uint8Array): void {
    this.h = blake2b(concat(this.h, d));
  }

  mixKey(ikm: Uint8Array): void {
    const [ck, t] = hkdf2(this.ck, ikm);
    this.ck = ck;
    this.k = t.slice(0, 32);
    this.n = 0n;
  }

  encryptAndHash(p: Uint8Array): Uint8Array {
    const c = this.k ? chacha20poly1305(this.k, noiseNonce(this.n++), this.h).encrypt(p) : p;
    this.mixHash(c);
    return c;
  }

  /** Throws on authentication failure. */
  decryptAndHash(c: Uint8Array): Uint8Array {
    const p = this.k ? chacha20poly1305(this.k, noiseNonce(this.n++), this.h).decrypt(c) : c;
    this.mixHash(c);
    return p;
  }

  split(): [Uint8Array, Uint8Array] {
    const [a, b] = hkdf2(this.ck, EMPTY);
    return [a.slice(0, 32), b.slice(0, 32)];
  }
}

function toError(e: unknown, what: string): Error {
  return new Error(`${what}: ${e instanceof Error ? e.message : String(e)}`);
}

function checkKeys(opts: { staticKey: KeyPair; ephemeralKey: KeyPair }): void {
  for (const kp of [opts.staticKey, opts.ephemeralKey]) {
    if (kp.privateKey.length !== DHLEN || kp.publicKey.length !== DHLEN) {
      throw new RangeError("key pairs must hold 32-byte keys");
    }
  }
}

/**
 * The initiator side (the one calling `connectTo`): message 1, read message 2, message 3.
 *
 * @example A full handshake with a responder
 * ```ts
 * import { keyPairFrom, XXInitiator, XXResponder } from "./noise.ts";
 * import assert from "node:assert/strict";
 * const kp = (b: number) => keyPairFrom(new Uint8Array(32).fill(b));
 * const i = new XXInitiator({ staticKey: kp(1), ephemeralKey: kp(2) });
 * const r = new XXResponder({ staticKey: kp(3), ephemeralKey: kp(4) });
 * assert.equal(r.readMessage1(i.writeMessage1()), true);
 * assert.equal(i.readMessage2(r.writeMessage2()), true);
 * const { message, result } = i.writeMessage3();
 * const rr = r.readMessage3(message);
 * assert.ok(!(rr instanceof Error));
 * assert.deepEqual(result.sendKey, rr.recvKey);
 * assert.deepEqual(result.recvKey, rr.sendKey);
 * assert.deepEqual(rr.remoteStatic, kp(1).publicKey);
 * ```
 */
export class XXInitiator {
  #s: KeyPair;
  #e: KeyPair;
  #ss: SymmetricState = SymmetricState.init();
  #m1: Uint8Array | undefined;
  #re: Uint8Array | undefined;
  #rs: Uint8Array | undefined;
  #m3: { message: Uint8Array; result: HandshakeResult } | undefined;

  /** Takes this side's static key and the ephemeral key of this handshake. */
  constructor(opts: { staticKey: KeyPair; ephemeralKey: KeyPair }) {
    checkKeys(opts);
    this.#s = opts.staticKey;
    this.#e = opts.ephemeralKey;
  }

  /** Message 1 (32 bytes: e.pub); the same bytes on every call. */
  writeMessage1(): Uint8Array {
    if (!this.#m1) {
      const pub = this.#e.publicKey.slice();
      this.#ss.mixHash(pub);
      this.#ss.encryptAndHash(EMPTY);
      this.#m1 = pub;
    }
    return this.#m1.slice();
  }

  /**
   * Processes message 2 (at least 96 bytes; extra bytes are an ignored payload). Returns `true`,
   * or an Error with the state unchanged (a later genuine message 2 still works).
   */
  readMessage2(m: Uint8Array): true | Error {
    if (!this.#m1) return new Error("message 2 before message 1");
    if (this.#re) return new Error("message 2 already processed");
    if (m.length < MESSAGE2_LEN) return new Error(`message 2 of ${m.length} bytes (< 96)`);
    const ss = this.#ss.clone();
    try {
      const re = m.slice(0, 32);
      ss.mixHash(re);
      ss.mixKey(dh(this.#e.privateKey, re)); // ee
      const rs = ss.decryptAndHash(m.subarray(32, 80));
      ss.mixKey(dh(this.#e.privateKey, rs)); // es
      ss.decryptAndHash(m.subarray(80));
      this.#ss = ss;
      this.#re = re;
      this.#rs = rs;
      return true;
    } catch (e) {
      return toError(e, "message 2 rejected");
    }
  }

  /**
   * Message 3 (64 bytes) and the handshake result (sendKey = c1, recvKey = c2); the same bytes
   * and result on every call. Throws if message 2 has not been processed.
   */
  writeMessage3(): { message: Uint8Array; result: HandshakeResult } {
    if (!this.#re || !this.#rs) throw new Error("writeMessage3 before a valid message 2");
    if (!this.#m3) {
      const ss = this.#ss.clone();
      const c = ss.encryptAndHash(this.#s.publicKey);
      ss.mixKey(dh(this.#s.privateKey, this.#re)); // se
      const tag = ss.encryptAndHash(EMPTY);
      const [c1, c2] = ss.split();
      this.#ss = ss;
      this.#m3 = {
        message: concat(c, tag),
        result: { sendKey: c1, recvKey: c2, remoteStatic: this.#rs, handshakeHash: ss.h },
      };
    }
    const { message, result } = this.#m3;
    return {
      message: message.slice(),
      result: {
        sendKey: result.sendKey.slice(),
        recvKey: result.recvKey.slice(),
        remoteStatic: result.remoteStatic.slice(),
        handshakeHash: result.handshakeHash.slice(),
      },
    };
  }
}

/**
 * The responder side (the one accepting): read message 1, message 2, read message 3.
 *
 * @example A short message 1 is refused
 * ```ts
 * import { keyPairFrom, XXResponder } from "./noise.ts";
 * import assert from "node:assert/strict";
 * const kp = (b: number) => keyPairFrom(new Uint8Array(32).fill(b));
 * const r = new XXResponder({ staticKey: kp(3), ephemeralKey: kp(4) });
 * assert.ok(r.readMessage1(new Uint8Array(31)) instanceof Error);
 * assert.throws(() => r.writeMessage2());
 * ```
 */
export class XXResponder {
  #s: KeyPair;
  #e: KeyPair;
  #ss: SymmetricState = SymmetricState.init();
  #m2: Uint8Array | undefined;
  #done = false;

  /** Takes this side's static key and the ephemeral key of this handshake. */
  constructor(opts: { staticKey: KeyPair; ephemeralKey: KeyPair }) {
    checkKeys(opts);
    this.#s = opts.staticKey;
    this.#e = opts.ephemeralKey;
  }

  /**
   * Processes message 1 (at least 32 bytes; extra bytes are an ignored payload, hashed as Noise
   * requires) and prepares message 2. Returns `true`, or an Error with the state unchanged (e.g. a
   * low-order ephemeral key).
   */
  readMessage1(m: Uint8Array): true | Error {
    if (this.#m2) return new Error("message 1 already processed");
    if (m.length < MESSAGE1_LEN) return new Error(`message 1 of ${m.length} bytes (< 32)`);
    const ss = this.#ss.clone();
    try {
      const re = m.slice(0, 32);
      ss.mixHash(re);
      ss.decryptAndHash(m.subarray(32));
      // message 2, computed now so that a bad re fails here and writeMessage2 cannot fail
      const e = this.#e.publicKey.slice();
      ss.mixHash(e);
      ss.mixKey(dh(this.#e.privateKey, re)); // ee
      const cs = ss.encryptAndHash(this.#s.publicKey);
      ss.mixKey(dh(this.#s.privateKey, re)); // es
      const tag = ss.encryptAndHash(EMPTY);
      this.#ss = ss;
      this.#m2 = concat(concat(e, cs), tag);
      return true;
    } catch (e) {
      return toError(e, "message 1 rejected");
    }
  }

  /** Message 2 (96 bytes); the same bytes on every call. Throws before a valid message 1. */
  writeMessage2(): Uint8Array {
    if (!this.#m2) throw new Error("writeMessage2 before a valid message 1");
    return this.#m2.slice();
  }

  /**
   * Processes message 3 (at least 64 bytes). Returns the result (sendKey = c2, recvKey = c1), or
   * an Error with the state unchanged (a later genuine message 3 still works).
   */
  readMessage3(m: Uint8Array): HandshakeResult | Error {
    if (!this.#m2) return new Error("message 3 before message 1");
    if (this.#done) return new Error("handshake already complete");
    if (m.length < MESSAGE3_LEN) return new Error(`message 3 of ${m.length} bytes (< 64)`);
    const ss = this.#ss.clone();
    try {
      const rs = ss.decryptAndHash(m.subarray(0, 48));
      ss.mixKey(dh(this.#e.privateKey, rs)); // se
      ss.decryptAndHash(m.subarray(48));
      const [c1, c2] = ss.split();
      this.#ss = ss;
      this.#done = true;
      return { sendKey: c2, recvKey: c1, remoteStatic: rs.slice(), handshakeHash: ss.h.slice() };
    } catch (e) {
      return toError(e, "message 3 rejected");
    }
  }
}
