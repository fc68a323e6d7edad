/**
 * The file transfer over real LRP2P sockets on 127.0.0.1, driven through the API: a wrong
 * SHA-256 or a stream cut short leaves no file and tells the sender; hostile names are refused;
 * the offer decoder is total.
 */
import assert from "node:assert/strict";
import {
  decodeOffer,
  encodeOffer,
  fileNameProblem,
  finishConnection,
  type LrpConnection,
  receiveFile,
  sendFile,
  socketListen,
} from "../../src/lrp2p/mod.ts";
import { decodeReply } from "../../src/lrp2p/mod.ts";

async function pair(): Promise<{ a: LrpConnection; b: LrpConnection; close(): Promise<void> }> {
  const s = await socketListen("127.0.0.1", 0);
  const c = await socketListen("127.0.0.1", 0, { acceptIncoming: false });
  const [a, b] = await Promise.all([s.accept(), c.connectTo("127.0.0.1", s.addr.port)]);
  return { a, b, close: async () => void await Promise.all([s.close(), c.close()]) };
}

async function readReply(conn: LrpConnection) {
  let buf = new Uint8Array(0);
  const scratch = new Uint8Array(4096);
  for (;;) {
    const r = decodeReply(buf);
    if (r instanceof Error) throw r;
    if (r !== "short") return r.reply;
    const n = await conn.read(scratch);
    if (n === null) return null;
    const next = new Uint8Array(buf.length + n);
    next.set(buf);
    next.set(scratch.subarray(0, n), buf.length);
    buf = next;
  }
}

async function listing(dir: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
}

Deno.test("transfer: a round trip through sendFile and receiveFile", async () => {
  const dir = await Deno.makeTempDir();
  const { a, b, close } = await pair();
  try {
    const data = crypto.getRandomValues(new Uint8Array(50_000));
    await Deno.mkdir(`${dir}/in`);
    await Deno.writeFile(`${dir}/f.bin`, data);
    const [got, sent] = await Promise.all([
      receiveFile(a, `${dir}/in`),
      sendFile(b, `${dir}/f.bin`),
    ]);
    assert.deepEqual(sent, { name: "f.bin", bytes: 50_000 });
    assert.equal(got.path, `${dir}/in/f.bin`);
    assert.deepEqual(await Deno.readFile(`${dir}/in/f.bin`), data);
    assert.deepEqual(await listing(`${dir}/in`), ["f.bin"]);
  } finally {
    await close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("transfer: a wrong SHA-256 leaves no file and the sender is told", async () => {
  const dir = await Deno.makeTempDir();
  const { a, b, close } = await pair();
  try {
    const receiving = receiveFile(a, dir);
    receiving.catch(() => {});
    await b.write(encodeOffer({ name: "x.txt", size: 5 }));
    await b.write(new TextEncoder().encode("hello"));
    await b.write(new Uint8Array(32)); // not the SHA-256 of "hello"
    await assert.rejects(receiving, /SHA-256 does not match/);
    assert.deepEqual(await readReply(b), {
      ok: false,
      message: "x.txt: the SHA-256 does not match",
    });
    assert.deepEqual(await listing(dir), []);
  } finally {
    await close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("transfer: a stream cut short leaves no file", async () => {
  const dir = await Deno.makeTempDir();
  const { a, b, close } = await pair();
  try {
    const receiving = receiveFile(a, dir);
    receiving.catch(() => {});
    await b.write(encodeOffer({ name: "y.txt", size: 100 }));
    await b.write(new Uint8Array(40));
    void b.close(); // FIN after 40 of 100 bytes
    await assert.rejects(receiving, /stopped after 40 of 100 bytes/);
    assert.deepEqual(await listing(dir), []);
    await finishConnection(a);
  } finally {
    await close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("transfer: names that leave the directory are refused in-band", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const name of ["../evil", "a/b", "..", ".", "a\\b", "nul\0", "line\n", ""]) {
      assert.ok(fileNameProblem(name), JSON.stringify(name));
      assert.throws(() => encodeOffer({ name, size: 1 }), RangeError);
      // hand-made offer bytes with that name
      const nameBytes = new TextEncoder().encode(name);
      const raw = new Uint8Array(7 + nameBytes.length + 8);
      raw.set([0x4c, 0x52, 0x50, 0x46, 1, 0, nameBytes.length]);
      raw.set(nameBytes, 7);
      raw[raw.length - 1] = 1;
      assert.ok(decodeOffer(raw) instanceof Error, JSON.stringify(name));
      const { a, b, close } = await pair();
      try {
        const receiving = receiveFile(a, `${dir}/in`);
        receiving.catch(() => {});
        await b.write(raw);
        await assert.rejects(receiving);
        const reply = await readReply(b);
        assert.equal(reply?.ok, false);
      } finally {
        await close();
      }
    }
    assert.deepEqual(await listing(dir), []);
    assert.equal(fileNameProblem("ok name.tar.gz"), undefined);
    assert.equal(fileNameProblem("é".repeat(127)), undefined);
    assert.ok(fileNameProblem("é".repeat(128))); // 256 bytes
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("transfer: decodeOffer is total over every prefix and random bytes", () => {
  const good = encodeOffer({ name: "report.pdf", size: 2 ** 40 });
  for (let n = 0; n < good.length; n++) assert.equal(decodeOffer(good.subarray(0, n)), "short");
  assert.deepEqual(decodeOffer(good), {
    offer: { name: "report.pdf", size: 2 ** 40 },
    length: good.length,
  });
  const big = good.slice();
  big.fill(0xff, good.length - 8); // 2^64 - 1: over 2^53
  assert.ok(decodeOffer(big) instanceof Error);
  let seed = 12345;
  const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
  for (let i = 0; i < 2000; i++) {
    const b = new Uint8Array(rnd() % 64).map(rnd);
    if (i % 2) b.set([0x4c, 0x52, 0x50, 0x46, 1].slice(0, b.length));
    const r = decodeOffer(b);
    assert.ok(r === "short" || r instanceof Error || fileNameProblem(r.offer.name) === undefined);
  }
});
