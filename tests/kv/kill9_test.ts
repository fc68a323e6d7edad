/**
 * `kill -9` of a `bitclone kv serve` process under a write load loses no acknowledged write: a
 * Setvalue is answered only once its entry is on disk, so after a restart on the same data
 * directory every acknowledged key reads back with its acknowledged value, and the Lamport clock
 * continues past every recovered version.
 */
import assert from "node:assert/strict";
import { kvRequest } from "../../src/kv/client_deno.ts";
import { spawnServe } from "./_live.ts";
const SET_OK = "Value set successful";

/** Runs 16 writers against `port` until `acked` grew by `more`, then SIGKILLs `child`. */
async function loadAndKill(
  child: Deno.ChildProcess,
  port: number,
  round: number,
  acked: Map<string, string>,
  more: number,
): Promise<void> {
  const before = acked.size;
  const target = before + more;
  let stop = false;
  let attempts = 0;
  const writer = async (w: number) => {
    for (let n = 0; !stop; n++) {
      const key = `r${round}-w${w}-${n}`, value = `value ${w} ${n} ${"x".repeat(n % 50)}`;
      attempts++;
      try {
        const reply = await kvRequest("127.0.0.1", port, { type: "Setvalue", key, value }, {
          replyTimeoutMs: 10_000,
        });
        if (reply?.type === "ValueResponse" && reply.value === SET_OK) acked.set(key, value);
      } catch {
        return; // the node is gone
      }
    }
  };
  const writers = Array.from({ length: 16 }, (_, w) => writer(w));
  const deadline = Date.now() + 30_000;
  while (acked.size < target && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  assert.ok(acked.size >= target, `only ${acked.size} writes acknowledged`);
  child.kill("SIGKILL");
  const status = await child.status;
  assert.equal(status.signal, "SIGKILL");
  stop = true;
  await Promise.all(writers);
  assert.ok(attempts > acked.size - before, "writes were under way at the kill");
}

/** Reads every acknowledged key back; gives the largest clock seen. */
async function checkAll(port: number, acked: Map<string, string>): Promise<number> {
  let maxClock = 0;
  for (const [key, value] of acked) {
    const r = await kvRequest("127.0.0.1", port, { type: "Getvalue", key });
    assert.ok(r?.type === "ValueResponse", `${key}: ${JSON.stringify(r)}`);
    assert.equal(r.value, value, `acknowledged ${key}`);
    assert.ok(r.clock !== undefined && r.clock >= 1);
    maxClock = Math.max(maxClock, r.clock);
  }
  return maxClock;
}

Deno.test("kill -9 under 16 writers, restart: every acknowledged write is there, the clock goes on", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bitclone-kv-kill9-" });
  try {
    const acked = new Map<string, string>();
    let node = await spawnServe(["--data-dir", dir]);
    for (let round = 0; round < 3; round++) {
      await loadAndKill(node.child, node.port, round, acked, 300);
      node = await spawnServe(["--data-dir", dir]);
      await checkAll(node.port, acked);
    }
    const second = node;
    try {
      const maxClock = await checkAll(second.port, acked);
      const key = acked.keys().next().value!;
      const set = await kvRequest("127.0.0.1", second.port, {
        type: "Setvalue",
        key,
        value: "again",
      });
      assert.ok(set?.type === "ValueResponse" && set.value === SET_OK);
      const r = await kvRequest("127.0.0.1", second.port, { type: "Getvalue", key });
      assert.ok(r?.type === "ValueResponse" && r.value === "again");
      assert.ok(r.clock! > maxClock, `clock ${r.clock} after a restart with ${maxClock} on disk`);
    } finally {
      second.child.kill("SIGTERM");
      await second.child.status;
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
