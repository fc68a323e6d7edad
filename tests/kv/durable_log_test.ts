/**
 * The durable log (`src/kv/durable_log_deno.ts`) on a real temp directory: reopen, group commit,
 * compaction and crashes around it, injected write and fsync failures, a full disk (tmpfs, root
 * only) and a kill -9 of a writing process.
 */
import assert from "node:assert/strict";
import { KvLog, type KvLogFile, readOrCreateName } from "../../src/kv/durable_log_deno.ts";
import { encodeRecords } from "../../src/kv/log_format.ts";
import type { VersionedEntry } from "../../src/kv/types.ts";

const dec = new TextDecoder();
const e = (key: string, clock: number, value = `v${clock}`, origin = "n"): VersionedEntry => ({
  key,
  value,
  clock,
  origin,
});
const byKey = (entries: VersionedEntry[]) =>
  [...entries].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));

async function withDir(f: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "kvlog-" });
  try {
    await f(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("append, reopen: the merged state, newest version per key, and the max clock", async () => {
  await withDir(async (dir) => {
    const { log, recovered } = await KvLog.open(`${dir}/data/kv`);
    assert.deepEqual(recovered.entries, []);
    assert.equal(recovered.maxClock, 0);
    await log.append([e("a", 1), e("b", 2)]);
    await log.append([e("a", 5, "new"), e("a", 3, "older")]);
    await log.append([]);
    await log.close();
    await assert.rejects(log.append([e("c", 9)]), /closed/);
    const again = await KvLog.open(`${dir}/data/kv`);
    assert.deepEqual(byKey(again.recovered.entries), [e("a", 5, "new"), e("b", 2)]);
    assert.equal(again.recovered.maxClock, 5);
    assert.equal(again.recovered.fromLog, 4);
    assert.equal(again.recovered.fromSnapshot, 0);
    assert.deepEqual(again.recovered.problems, []);
    await again.log.close();
  });
});

Deno.test("an invalid entry rejects its own append only", async () => {
  await withDir(async (dir) => {
    const { log } = await KvLog.open(dir);
    const bad = log.append([e("x", 1), { key: "y", value: "v", clock: 0, origin: "n" }]);
    const good = log.append([e("z", 2)]);
    await assert.rejects(bad, RangeError);
    await good;
    await log.close();
    const { log: l2, recovered } = await KvLog.open(dir);
    assert.deepEqual(recovered.entries, [e("z", 2)]);
    await l2.close();
  });
});

Deno.test("group commit: 200 concurrent appends share few fsyncs, each resolves after its fsync", async () => {
  await withDir(async (dir) => {
    // record, per key, the number of completed fsyncs when its bytes were written
    const written = new Map<string, number>();
    let synced = 0;
    const wrapFile = (f: KvLogFile): KvLogFile => ({
      write: async (p) => {
        const n = await f.write(p);
        for (const m of dec.decode(p.subarray(0, n)).matchAll(/"k":"(k\d+)"/g)) {
          written.set(m[1], synced);
        }
        return n;
      },
      syncData: async () => {
        await f.syncData();
        synced++;
      },
      truncate: (len) => f.truncate(len),
      close: () => f.close(),
    });
    const { log } = await KvLog.open(dir, { wrapFile });
    const resolvedAfterSync: boolean[] = [];
    const all = [];
    for (let i = 0; i < 200; i++) {
      const key = `k${i}`;
      all.push(
        log.append([e(key, i + 1)]).then(() => {
          resolvedAfterSync.push(written.has(key) && synced > written.get(key)!);
        }),
      );
      if (i % 50 === 49) await Promise.resolve(); // let a commit start in the middle of the burst
    }
    await Promise.all(all);
    assert.equal(log.stats.appends, 200);
    assert.ok(log.stats.fsyncs < log.stats.appends, `fsyncs ${log.stats.fsyncs}`);
    assert.ok(log.stats.commits < 200);
    assert.equal(log.stats.commits, log.stats.fsyncs);
    assert.equal(resolvedAfterSync.length, 200);
    assert.ok(resolvedAfterSync.every((x) => x));
    // kill-free check: a second handle sees every key without closing the first
    const { log: reader, recovered } = await KvLog.open(dir);
    assert.equal(recovered.entries.length, 200);
    await reader.close();
    await log.close();
  });
});

Deno.test("compaction writes a snapshot, empties the log, and reopening gives the same state", async () => {
  await withDir(async (dir) => {
    const { log } = await KvLog.open(dir, { compactAfterBytes: 600 });
    const model = new Map<string, VersionedEntry>();
    for (let i = 1; i <= 120; i++) {
      const entry = e(`key${i % 7}`, i, `value ${i}`);
      model.set(entry.key, entry);
      await log.append([entry]);
    }
    assert.ok(log.stats.compactions >= 3, `compactions ${log.stats.compactions}`);
    assert.ok(log.logBytes <= 600 + 100);
    assert.equal(log.size, 7);
    await log.close();
    const snap = await Deno.stat(`${dir}/kv.snapshot`);
    assert.ok(snap.size > 0);
    const { log: l2, recovered } = await KvLog.open(dir);
    assert.deepEqual(byKey(recovered.entries), byKey([...model.values()]));
    assert.equal(recovered.maxClock, 120);
    assert.ok(recovered.fromSnapshot > 0);
    assert.deepEqual(recovered.problems, []);
    await l2.close();
  });
});

Deno.test("crash mid-compaction: a stray temp snapshot is removed, an old log over a new snapshot is harmless", async () => {
  await withDir(async (dir) => {
    const { log } = await KvLog.open(dir, { compactAfterBytes: 10_000 });
    for (let i = 1; i <= 20; i++) await log.append([e(`k${i % 5}`, i)]);
    await log.close();
    const oldLog = await Deno.readFile(`${dir}/kv.log`);
    // a crash while writing the temp snapshot: a torn temp file
    await Deno.writeFile(`${dir}/kv.snapshot.tmp`, new TextEncoder().encode("kv-snapshot 1\nabc"));
    const { log: l2, recovered: r2 } = await KvLog.open(dir, { compactAfterBytes: 1 });
    assert.equal(r2.entries.length, 5);
    await assert.rejects(Deno.stat(`${dir}/kv.snapshot.tmp`), Deno.errors.NotFound);
    await l2.append([e("k1", 21, "after")]); // exceeds 1 byte: compacts after the commit
    await l2.close(); // waits for the compaction
    assert.equal(l2.stats.compactions, 1);
    const expected = byKey(
      (await KvLog.open(dir).then(async ({ log, recovered }) => {
        await log.close();
        return recovered;
      })).entries,
    );
    // a crash after the rename, before the log was emptied: new snapshot + old log
    await Deno.writeFile(`${dir}/kv.log`, oldLog);
    const { log: l3, recovered: r3 } = await KvLog.open(dir);
    assert.deepEqual(byKey(r3.entries), expected);
    assert.equal(r3.entries.find((x) => x.key === "k1")?.value, "after");
    assert.deepEqual(r3.problems, []);
    await l3.close();
  });
});

Deno.test("a torn tail is reported, cut off, and later appends follow good data", async () => {
  await withDir(async (dir) => {
    const { log } = await KvLog.open(dir);
    await log.append([e("a", 1), e("b", 2)]);
    await log.close();
    const rec = encodeRecords([e("c", 3)]);
    const f = await Deno.open(`${dir}/kv.log`, { append: true });
    await f.write(rec.subarray(0, rec.length - 5));
    f.close();
    const { log: l2, recovered } = await KvLog.open(dir);
    assert.deepEqual(byKey(recovered.entries), [e("a", 1), e("b", 2)]);
    assert.equal(recovered.droppedBytes, rec.length - 5);
    assert.equal(recovered.droppedRecords, 1);
    assert.match(recovered.problems.join(), /torn log record/);
    await l2.append([e("d", 4)]);
    await l2.close();
    const { log: l3, recovered: r3 } = await KvLog.open(dir);
    assert.deepEqual(byKey(r3.entries), [e("a", 1), e("b", 2), e("d", 4)]);
    assert.deepEqual(r3.problems, []);
    await l3.close();
  });
});

/** Wraps the log file so that chosen operations fail once, after doing part of their work. */
function faulty(plan: { write?: number; sync?: number; truncate?: number }) {
  const counts = { write: 0, sync: 0, truncate: 0 };
  return (f: KvLogFile, kind: string): KvLogFile =>
    kind !== "log" ? f : {
      write: async (p) => {
        if (++counts.write === plan.write) {
          await f.write(p.subarray(0, Math.floor(p.length / 2))); // a partial write, then ENOSPC
          throw new Deno.errors.WriteZero("injected: no space left on device");
        }
        return f.write(p);
      },
      syncData: () => {
        if (++counts.sync === plan.sync) throw new Error("injected: EIO");
        return f.syncData();
      },
      truncate: (len) => {
        if (++counts.truncate === plan.truncate) throw new Error("injected: truncate failed");
        return f.truncate(len);
      },
      close: () => f.close(),
    };
}

for (
  const [name, plan] of [
    ["a failed write", { write: 2 }],
    ["a failed fsync", { sync: 2 }],
    ["a failed write whose repair fails too", { write: 2, truncate: 1 }],
  ] as const
) {
  Deno.test(`${name} rejects that batch only; the log stays usable and clean`, async () => {
    await withDir(async (dir) => {
      const { log } = await KvLog.open(dir, { wrapFile: faulty(plan) });
      await log.append([e("first", 1)]);
      const batch = [log.append([e("lost1", 2)]), log.append([e("lost2", 3)])];
      for (const p of batch) await assert.rejects(p, /injected/);
      await log.append([e("later", 4)]);
      assert.equal(log.stats.failedCommits, 1);
      assert.equal(log.stats.appends, 2);
      await log.close();
      const { log: l2, recovered } = await KvLog.open(dir);
      assert.deepEqual(byKey(recovered.entries), [e("first", 1), e("later", 4)]);
      assert.deepEqual(recovered.problems, []);
      assert.equal(recovered.droppedBytes, 0);
      await l2.close();
    });
  });
}

Deno.test("a full disk (tiny tmpfs) rejects appends, and the log recovers when space returns", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kvlog-tmpfs-" });
  const mount = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", "size=64k", "tmpfs", dir],
    stderr: "piped",
  }).output();
  if (!mount.success) {
    // not root, or no CAP_SYS_ADMIN in this container: the injected failures above still run
    console.warn(`skipped: cannot mount a tmpfs (needs root): ${dec.decode(mount.stderr).trim()}`);
    await Deno.remove(dir);
    return;
  }
  try {
    await Deno.writeFile(`${dir}/filler`, new Uint8Array(40 * 1024));
    const { log } = await KvLog.open(`${dir}/kv`, { compactAfterBytes: 1 << 20 });
    const acked: VersionedEntry[] = [];
    const big = "x".repeat(3000);
    let rejected = 0;
    for (let i = 1; i <= 40 && rejected === 0; i++) {
      const entry = e(`k${i}`, i, big);
      await log.append([entry]).then(() => acked.push(entry), () => rejected++);
    }
    assert.equal(rejected, 1, "the disk never filled up");
    assert.ok(acked.length > 0);
    await Deno.remove(`${dir}/filler`);
    const after = e("after", 1000, big);
    await log.append([after]);
    acked.push(after);
    await log.close();
    const { log: l2, recovered } = await KvLog.open(`${dir}/kv`);
    assert.deepEqual(byKey(recovered.entries), byKey(acked));
    assert.deepEqual(recovered.problems, []);
    await l2.close();
  } finally {
    await new Deno.Command("umount", { args: [dir] }).output();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("kill -9 of a writing process loses no acknowledged key", async () => {
  await withDir(async (dir) => {
    const writer = new URL("./_log_writer.ts", import.meta.url).pathname;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-read", "--allow-write", writer, dir],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const acked: string[] = [];
    let buf = "";
    const reader = child.stdout.getReader();
    while (acked.length < 2000) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      const lines = buf.split("\n");
      buf = lines.pop()!;
      acked.push(...lines);
    }
    child.kill("SIGKILL");
    const status = await child.status;
    reader.releaseLock();
    await child.stdout.cancel().catch(() => {});
    assert.equal(status.signal, "SIGKILL");
    assert.ok(acked.length >= 2000, `the writer acknowledged only ${acked.length} keys`);
    const { log, recovered } = await KvLog.open(dir);
    const keys = new Set(recovered.entries.map((x) => x.key));
    const missing = acked.filter((k) => !keys.has(k));
    assert.deepEqual(missing, []);
    for (const x of recovered.entries) assert.equal(x.value, `v-${x.key}`);
    await log.close();
  });
});

Deno.test("readOrCreateName keeps the first name, refuses a damaged file, ignores a stray temp", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/kv-node.json.tmp`, '{"name":"half');
    assert.equal(await readOrCreateName(dir, () => "ts-one"), "ts-one");
    assert.equal(await readOrCreateName(dir, () => "ts-two"), "ts-one");
    assert.deepEqual(JSON.parse(await Deno.readTextFile(`${dir}/kv-node.json`)), {
      name: "ts-one",
    });
    await assert.rejects(readOrCreateName(`${dir}/new`, () => ""), RangeError);
    await Deno.writeTextFile(`${dir}/kv-node.json`, "{");
    await assert.rejects(readOrCreateName(dir, () => "ts-three"), /does not hold a node name/);
  });
});
