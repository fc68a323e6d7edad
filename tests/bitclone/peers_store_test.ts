/**
 * `peers.json` on disk: a missing file, a file with bad entries, a damaged file set aside, an
 * unreadable path, atomic writes (a reader holding the old file keeps the old text), and the
 * saver that leaves an unchanged file alone. Every test works in its own temporary directory.
 */
import assert from "node:assert/strict";
import {
  loadPeersFile,
  peersFileSaver,
  writePeersFile,
} from "../../src/bitclone/peers_store_deno.ts";

async function inTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "bitclone-peers-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("loadPeersFile() gives an empty book and creates nothing when the file is missing", async () => {
  await inTempDir(async (dir) => {
    const r = await loadPeersFile(`${dir}/peers.json`);
    assert.deepEqual(r.peers, []);
    assert.deepEqual(r.warnings, []);
    assert.equal(r.missing, true);
    assert.deepEqual([...Deno.readDirSync(dir)], []);
  });
});

Deno.test("loadPeersFile() keeps the good entries and warns about the bad ones", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/peers.json`;
    await Deno.writeTextFile(
      path,
      '["10.0.0.7:8333", {"address": "10.0.0.5:8333", "tried": true}, "nonsense", 5]',
    );
    const r = await loadPeersFile(path);
    assert.deepEqual(r.peers, [{ address: "10.0.0.7:8333" }, {
      address: "10.0.0.5:8333",
      tried: true,
    }]);
    assert.equal(r.warnings.length, 2);
    assert.ok(r.warnings.every((w) => w.startsWith(`${path}: `)));
    assert.equal(r.missing, false);
    assert.equal(r.movedTo, undefined);
    assert.ok(await exists(path), "a readable file stays where it is");
  });
});

Deno.test("loadPeersFile() moves a damaged file aside to FILE.bad-<time> and starts empty", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/peers.json`;
    await Deno.writeTextFile(path, '{"not": "an array"');
    const date = new Date(Date.UTC(2026, 10, 22, 2, 10, 50, 123));
    const r = await loadPeersFile(path, { date: () => date });
    const aside = `${path}.bad-20261122T021050.123Z`;
    assert.equal(r.movedTo, aside);
    assert.deepEqual(r.peers, []);
    assert.equal(await exists(path), false);
    assert.equal(await Deno.readTextFile(aside), '{"not": "an array"', "kept byte for byte");
    assert.ok(r.warnings.some((w) => w.includes("not valid JSON")));
    assert.ok(r.warnings.some((w) => w.includes(`moved to ${aside}`)));
  });
});

Deno.test("loadPeersFile() warns and starts empty when the path is a directory", async () => {
  await inTempDir(async (dir) => {
    const r = await loadPeersFile(dir);
    assert.deepEqual(r.peers, []);
    assert.equal(r.warnings.length, 1);
    assert.match(r.warnings[0], /not a regular file/);
    assert.ok(await exists(dir));
  });
});

Deno.test("writePeersFile() replaces the file atomically and leaves no temporary file", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/peers.json`;
    await writePeersFile(path, [{ address: "10.0.0.1:8333" }]);
    // A reader that opened the old file keeps reading the old text: the new one is a new file.
    const old = await Deno.open(path);
    try {
      await writePeersFile(path, [{ address: "10.0.0.2:8333", lastSeen: 1_763_778_000 }]);
      const buf = new Uint8Array(4096);
      const n = await old.read(buf);
      assert.match(new TextDecoder().decode(buf.subarray(0, n ?? 0)), /10\.0\.0\.1:8333/);
    } finally {
      old.close();
    }
    const r = await loadPeersFile(path);
    assert.deepEqual(r.peers, [{ address: "10.0.0.2:8333", lastSeen: 1_763_778_000 }]);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["peers.json"]);
  });
});

Deno.test("writePeersFile() rejects when the directory is missing and leaves nothing behind", async () => {
  await inTempDir(async (dir) => {
    await assert.rejects(writePeersFile(`${dir}/no/such/peers.json`, []), Deno.errors.NotFound);
    assert.deepEqual([...Deno.readDirSync(dir)], []);
  });
});

Deno.test("peersFileSaver() writes only when the book's text changes", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/peers.json`;
    await Deno.writeTextFile(path, "[]");
    const loaded = await loadPeersFile(path);
    const save = peersFileSaver(path, loaded.text);
    await Deno.remove(path);
    await save([]);
    assert.equal(await exists(path), false, "an unchanged empty book is not written");
    await save([{ address: "10.0.0.3:8333" }]);
    assert.match(await Deno.readTextFile(path), /10\.0\.0\.3:8333/);
    await Deno.remove(path);
    await save([{ address: "10.0.0.3:8333" }]);
    assert.equal(await exists(path), false, "the same book twice is written once");
    await save([]);
    assert.equal(await Deno.readTextFile(path), "[]\n");
  });
});
