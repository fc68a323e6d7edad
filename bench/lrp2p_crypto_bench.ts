/**
 * LRP2P transport crypto (issue 12, item 2): @noble's synchronous ChaCha20-Poly1305 (the
 * baseline, measured in the same run) against Deno's Web Crypto ChaCha20-Poly1305 (async; key
 * imported with format "raw-secret"), libsodium's (WebAssembly, the live socket's) and OpenSSL's
 * (`node:crypto`), each op one seal plus one open of a 1,346-byte segment, and of a 14-byte one
 * (an ACK).
 * Throughput in MB/s = ops/s × 1346 / 10^6 (segment bytes per seal+open). Also the full
 * TransportCipher path and one complete XX handshake. Run: `deno task bench`, or
 * `deno bench bench/lrp2p_crypto_bench.ts`.
 */
import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import { opensslAead, sodiumAead } from "../src/lrp2p/aead_deno.ts";
import { keyPairFrom, noiseNonce, XXInitiator, XXResponder } from "../src/lrp2p/noise.ts";
import { TransportCipher } from "../src/lrp2p/transport.ts";

const SEGMENT_BYTES = 1346;
const segment: Uint8Array<ArrayBuffer> = Uint8Array.from(
  { length: SEGMENT_BYTES },
  (_, i) => (i * 31) & 0xff,
);
const key: Uint8Array<ArrayBuffer> = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
let sink = 0;
let n = 0n;

/** Web Crypto's ChaCha20-Poly1305 key, or why it is unavailable. */
async function webCryptoKey(): Promise<CryptoKey | string> {
  try {
    const k = await crypto.subtle.importKey(
      "raw-secret" as "raw",
      key,
      { name: "ChaCha20-Poly1305" },
      false,
      ["encrypt", "decrypt"],
    );
    // check that it agrees with noble before timing it
    const iv = noiseNonce(0n);
    const ct = new Uint8Array(
      await crypto.subtle.encrypt({ name: "ChaCha20-Poly1305", iv }, k, segment),
    );
    const ref = chacha20poly1305(key, iv).encrypt(segment);
    if (ct.length !== ref.length || !ct.every((b, i) => b === ref[i])) {
      return "Web Crypto ChaCha20-Poly1305 disagrees with @noble";
    }
    return k;
  } catch (e) {
    return `Web Crypto ChaCha20-Poly1305 unsupported: ${e instanceof Error ? e.message : e}`;
  }
}
const wcKey = await webCryptoKey();
if (typeof wcKey === "string") console.log(wcKey);

Deno.bench("@noble chacha20poly1305 seal+open 1346 B (sync)", {
  group: "chacha20poly1305 1346 B",
  baseline: true,
  warmup: 2000,
  n: 20000,
}, () => {
  const iv = noiseNonce(n++);
  const ct = chacha20poly1305(key, iv).encrypt(segment);
  sink += chacha20poly1305(key, iv).decrypt(ct)[0];
});

Deno.bench("Web Crypto ChaCha20-Poly1305 seal+open 1346 B (async)", {
  group: "chacha20poly1305 1346 B",
  ignore: typeof wcKey === "string",
  warmup: 2000,
  n: 20000,
}, async () => {
  const k = wcKey as CryptoKey;
  const iv = noiseNonce(n++);
  const ct = await crypto.subtle.encrypt({ name: "ChaCha20-Poly1305", iv }, k, segment);
  sink += new Uint8Array(await crypto.subtle.decrypt({ name: "ChaCha20-Poly1305", iv }, k, ct))[0];
});

for (
  const [name, aead] of [["libsodium (WebAssembly)", sodiumAead], [
    "OpenSSL (node:crypto)",
    opensslAead,
  ]] as const
) {
  for (const [bytes, what] of [[SEGMENT_BYTES, segment], [14, segment.subarray(0, 14)]] as const) {
    Deno.bench(`${name} seal+open ${bytes} B (sync)`, {
      group: `chacha20poly1305 ${bytes} B`,
      warmup: 2000,
      n: 20000,
    }, () => {
      const iv = noiseNonce(n++);
      sink += aead.open(key, iv, aead.seal(key, iv, what))![0];
    });
  }
}
Deno.bench("@noble chacha20poly1305 seal+open 14 B (an ACK segment; sync)", {
  group: "chacha20poly1305 14 B",
  baseline: true,
  warmup: 2000,
  n: 20000,
}, () => {
  const iv = noiseNonce(n++);
  const ct = chacha20poly1305(key, iv).encrypt(segment.subarray(0, 14));
  sink += chacha20poly1305(key, iv).decrypt(ct)[0];
});

const tx = new TransportCipher({ connId: 7n, sendKey: key, recvKey: key });
const rx = new TransportCipher({ connId: 7n, sendKey: key, recvKey: key });
Deno.bench("TransportCipher seal+open 1346 B (header, replay window)", {
  group: "chacha20poly1305 1346 B",
  warmup: 2000,
  n: 20000,
}, () => {
  sink += rx.open(tx.seal(segment))![0];
});

const kp = (b: number) => keyPairFrom(new Uint8Array(32).fill(b));
const keys = [kp(1), kp(2), kp(3), kp(4)];
Deno.bench("XX handshake, both sides (3 messages)", { group: "handshake" }, () => {
  const i = new XXInitiator({ staticKey: keys[0], ephemeralKey: keys[1] });
  const r = new XXResponder({ staticKey: keys[2], ephemeralKey: keys[3] });
  r.readMessage1(i.writeMessage1());
  i.readMessage2(r.writeMessage2());
  const done = r.readMessage3(i.writeMessage3().message);
  if (!(done instanceof Error)) sink += done.sendKey[0];
});

globalThis.addEventListener("unload", () => {
  if (sink === 0.5) console.log(sink); // keeps the work from being optimised away
});
