/**
 * `bitclone kv serve` on five hosts: five Linux network namespaces on one bridge, each node on the
 * default ports (UDP 8888, TCP 9000) with no seed, run with the permissions `deno task bitclone`
 * gives (read from deno.json). They must find each other by real broadcast (to the interface's
 * directed broadcast address), replicate a write to every node, keep working on both sides of an
 * nftables partition {h0,h1} | {h2,h3,h4} (writes on both sides, one key on both), report the
 * other side suspect then dead (`bitclone kv members`), and after the partition heals end with,
 * on every node and for every key, the value of the greatest version (clock, then origin).
 *
 * It prints, without asserting on them, how long a write took to reach all five hosts and how
 * long the network took to converge after the heal.
 *
 * Run as root with `deno task test:hosts`; elsewhere the test is ignored with one line.
 * `KV_HOSTS_LOGS=1` prints the five nodes' logs at the end.
 */
import assert from "node:assert/strict";
import {
  BITCLONE_CONFIG,
  BITCLONE_MAIN,
  type Host,
  type HostProcess,
  hostsTest,
  type RunResult,
  withHosts,
} from "./_netns.ts";
import type { ProbeReply } from "./_kv_probe.ts";
import { compareVersions } from "../../src/kv/version.ts";

const HOSTS = 5;
const TCP = 9000;
const GROUP_A = [0, 1];
const GROUP_B = [2, 3, 4];
const START_MS = 60_000;
const DISCOVER_MS = 30_000;
const DETECT_MS = 90_000;
const CONVERGE_MS = 60_000;
const PROBE = new URL("./_kv_probe.ts", import.meta.url).pathname;
const PARTITION_TABLE = "bitclone_partition";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The permission flags of `deno task bitclone` (`deno run FLAGS main.ts`): what users run. */
function taskFlags(): string[] {
  const { tasks } = JSON.parse(Deno.readTextFileSync(BITCLONE_CONFIG)) as {
    tasks: Record<string, string>;
  };
  const words = tasks.bitclone.trim().split(/\s+/);
  assert.deepEqual(words.slice(0, 2), ["deno", "run"], tasks.bitclone);
  assert.equal(words.at(-1), "main.ts", tasks.bitclone);
  return words.slice(2, -1);
}

const ENV = { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" };

function bitclone(host: Host, args: string[]): HostProcess {
  return host.spawn(
    [Deno.execPath(), "run", ...taskFlags(), `--config=${BITCLONE_CONFIG}`, BITCLONE_MAIN, ...args],
    { env: ENV },
  );
}

async function cli(host: Host, args: string[]): Promise<RunResult> {
  return await bitclone(host, args).wait({ timeoutMs: 30_000 });
}

/** Runs the probe inside `host` (see _kv_probe.ts) and returns its JSON answer. */
async function probe<T>(host: Host, job: unknown): Promise<T> {
  const r = await host.run(
    [
      Deno.execPath(),
      "run",
      "--allow-net",
      `--config=${BITCLONE_CONFIG}`,
      PROBE,
      JSON.stringify(job),
    ],
    { env: ENV, timeoutMs: 60_000 },
  );
  assert.ok(r.success, `probe ${JSON.stringify(job)} on ${host.name}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

type Versioned = { value: string; clock: number; origin: string };
type Table = Record<string, Record<string, ProbeReply>>;

function getAll(from: Host, targets: readonly Host[], keys: string[]): Promise<Table> {
  return probe<Table>(from, {
    op: "get",
    targets: targets.map((h) => `${h.address}:${TCP}`),
    keys,
  });
}

function versioned(r: ProbeReply | undefined): Versioned | undefined {
  if (r === undefined || !("value" in r) || r.value === null) return undefined;
  if (r.clock === undefined || r.origin === undefined) return undefined;
  return { value: r.value, clock: r.clock, origin: r.origin };
}

/** Whether every target of `table` holds exactly `expected` for each key. */
function mismatches(table: Table, expected: Record<string, Versioned>): string[] {
  const bad: string[] = [];
  for (const [target, replies] of Object.entries(table)) {
    for (const [key, want] of Object.entries(expected)) {
      const got = versioned(replies[key]);
      if (got === undefined || JSON.stringify(got) !== JSON.stringify(want)) {
        bad.push(`${target} ${key}: ${JSON.stringify(replies[key])}, want ${JSON.stringify(want)}`);
      }
    }
  }
  return bad;
}

/** Polls `check` (an empty list means done) until it passes or `ms` ran out. */
async function until(what: string, ms: number, check: () => Promise<string[]> | string[]) {
  const deadline = performance.now() + ms;
  for (;;) {
    const problems = await check();
    if (problems.length === 0) return;
    assert.ok(performance.now() < deadline, `${what} within ${ms} ms:\n${problems.join("\n")}`);
    await sleep(500);
  }
}

/** nftables rules on `host` that drop every packet from or to `others` (broadcasts included). */
function partitionScript(others: Host[]): string {
  const set = `{ ${others.map((h) => h.address).join(", ")} }`;
  return `table inet ${PARTITION_TABLE}\ndelete table inet ${PARTITION_TABLE}\n` +
    `table inet ${PARTITION_TABLE} {\n` +
    `  chain input {\n    type filter hook input priority 0; policy accept;\n` +
    `    ip saddr ${set} drop\n  }\n` +
    `  chain output {\n    type filter hook output priority 0; policy accept;\n` +
    `    ip daddr ${set} drop\n  }\n}\n`;
}

async function nft(host: Host, script: string): Promise<void> {
  const r = await host.run(["nft", "-f", "-"], { input: script });
  assert.ok(r.success, `nft on ${host.name}: ${r.stderr}`);
}

/** Member address → state, from `bitclone kv members`' table. */
function parseMembers(table: string): Map<string, string> {
  const states = new Map<string, string>();
  for (const line of table.trim().split("\n").slice(1)) {
    const [, address, state] = line.trim().split(/\s+/);
    states.set(address, state);
  }
  return states;
}

/** `bitclone kv members` on every host: its own side alive, the other side `other`. */
async function expectStates(hosts: readonly Host[], other: string): Promise<void> {
  const at = (h: Host) => `${h.address}:${TCP}`;
  const tables = await Promise.all(hosts.map((h) => cli(h, ["kv", "members", at(h)])));
  for (const [i, t] of tables.entries()) {
    assert.equal(t.code, 0, t.stderr);
    const states = parseMembers(t.stdout);
    const mine = GROUP_A.includes(i) ? GROUP_A : GROUP_B;
    for (const j of hosts.keys()) {
      if (j === i) continue;
      const want = mine.includes(j) ? "alive" : other;
      assert.equal(states.get(at(hosts[j])), want, `h${i} on h${j}:\n${t.stdout}`);
    }
  }
}

hostsTest(
  "bitclone kv serve on five hosts finds its members by broadcast, replicates, survives a " +
    "partition and converges on the greatest versions after it heals",
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "bitclone-kv-hosts-" });
    try {
      await withHosts({ count: HOSTS }, async (lab) => {
        const hosts = lab.hosts;
        const [h0, h1, h2, h3, h4] = hosts;
        const at = (h: Host) => `${h.address}:${TCP}`;
        const nodes = hosts.map((h, i) =>
          bitclone(h, ["kv", "serve", "--data-dir", `${dir}/h${i}`])
        );
        const names: string[] = [];
        for (const [i, p] of nodes.entries()) {
          const line = await p.waitForOutput(/Key-value node (\S+) on .*advertising (\S+) /, {
            timeoutMs: START_MS,
          });
          const m = /Key-value node (\S+) on .*advertising (\S+) /.exec(line)!;
          assert.equal(m[2], at(hosts[i]), `h${i} advertises its lab address`);
          names.push(m[1]);
        }
        const logs = () => nodes.map((p, i) => `--- h${i} ${names[i]}\n${p.stderr}`).join("\n");
        const running = () => nodes.flatMap((p, i) => p.running ? [] : [`h${i} exited`]);
        /** What `host` i has not yet logged about each member of `others`. */
        const notLogged = (change: string, groups: [number[], number[]][]) => () => [
          ...running(),
          ...groups.flatMap(([mine, others]) =>
            mine.flatMap((i) =>
              others.filter((j) => j !== i).flatMap((j) => {
                const line = `member ${names[j]} (${at(hosts[j])}) ${change}`;
                return nodes[i].stderr.includes(line) ? [] : [`h${i} has not logged: ${line}`];
              })
            )
          ),
        ];
        const everyone: [number[], number[]][] = [[[0, 1, 2, 3, 4], [0, 1, 2, 3, 4]]];

        // Discovery by broadcast alone: every node learns the four others at their lab addresses.
        await until("every node hears the four others", DISCOVER_MS, notLogged("joined", everyone));

        // Replication: a write through the CLI on h0, a timed one on h2 watched from h1.
        const set0 = await cli(h0, ["kv", "set", at(h0), "k0", "zero"]);
        assert.equal(set0.code, 0, set0.stderr);
        assert.equal(set0.stdout, "Value set successful\n");
        const timed = await probe<{ setMs: number; allMs: number }>(h1, {
          op: "propagate",
          set: at(h2),
          key: "p",
          value: "spread",
          targets: hosts.map(at),
          timeoutMs: 20_000,
        });
        assert.ok(timed.allMs >= 0, `the write did not reach every host: ${JSON.stringify(timed)}`);
        console.log(
          `kv on ${HOSTS} hosts: Setvalue answered after ${timed.setMs.toFixed(1)} ms, ` +
            `the value on all ${HOSTS} after ${timed.allMs.toFixed(1)} ms (polled every 2 ms)`,
        );
        const get4 = await cli(h4, ["kv", "get", at(h4), "k0"]);
        assert.equal(get4.stdout, "zero\n", get4.stderr);
        await until("k0 and p on every node", 20_000, async () => {
          const before = await getAll(h0, hosts, ["k0", "p"]);
          return Object.entries(before).flatMap(([t, r]) =>
            ["k0", "p"].flatMap((k) =>
              versioned(r[k]) ? [] : [`${t} ${k}: ${JSON.stringify(r[k])}`]
            )
          );
        });

        // Partition {h0,h1} | {h2,h3,h4}, then writes on both sides (one key on both).
        const a = GROUP_A.map((i) => hosts[i]);
        const b = GROUP_B.map((i) => hosts[i]);
        await Promise.all([
          ...a.map((h) => nft(h, partitionScript(b))),
          ...b.map((h) => nft(h, partitionScript(a))),
        ]);
        const writes: [Host, string, string][] = [
          [h0, "both", "from-a"],
          [h1, "a-only", "1"],
          [h3, "both", "from-b"],
          [h4, "b-only", "2"],
          [h2, "k0", "zero-b"],
        ];
        for (const [h, key, value] of writes) {
          const r = await cli(h, ["kv", "set", at(h), key, value]);
          assert.equal(r.code, 0, `set ${key} on ${h.name}: ${r.stderr}`);
        }
        const keys = ["k0", "p", "both", "a-only", "b-only"];
        // Each side agrees within itself; the greatest version of each key over both sides wins.
        const sides: Table[] = [{}, {}];
        for (const [s, group] of [a, b].entries()) {
          await until(`side ${s} agrees within itself`, 20_000, async () => {
            sides[s] = await getAll(group[0], group, keys);
            const first = sides[s][at(group[0])];
            return Object.entries(sides[s]).flatMap(([t, r]) =>
              keys.flatMap((k) =>
                JSON.stringify(r[k]) === JSON.stringify(first[k]) ? [] : [`${t} ${k} differs`]
              )
            );
          });
        }
        assert.equal(versioned(sides[0][at(h0)]["b-only"]), undefined, "b-only crossed");
        assert.equal(versioned(sides[1][at(h2)]["a-only"]), undefined, "a-only crossed");
        assert.equal(versioned(sides[0][at(h0)].both)?.value, "from-a");
        assert.equal(versioned(sides[1][at(h2)].both)?.value, "from-b");
        const expected: Record<string, Versioned> = {};
        for (const key of keys) {
          const candidates = [versioned(sides[0][at(h0)][key]), versioned(sides[1][at(h2)][key])]
            .filter((v) => v !== undefined);
          expected[key] = candidates.reduce((x, y) => compareVersions(x, y) >= 0 ? x : y);
        }
        assert.equal(expected["k0"].value, "zero-b", "the later write of k0 wins");

        // Each side sees the other suspect, then dead; `bitclone kv members` shows it.
        const across: [number[], number[]][] = [[GROUP_A, GROUP_B], [GROUP_B, GROUP_A]];
        await until("each side suspects the other", DETECT_MS, notLogged("is suspect", across));
        // Dead comes three missed heartbeats (15 s) later: the table still says suspect.
        await expectStates(hosts, "suspect");
        await until("each side declares the other dead", DETECT_MS, notLogged("is dead", across));
        await expectStates(hosts, "dead");

        // Heal: the sides hear each other's Handshakes, push and pull, and converge.
        await Promise.all(
          hosts.map((h) =>
            nft(h, `table inet ${PARTITION_TABLE}\ndelete table inet ${PARTITION_TABLE}\n`)
          ),
        );
        const healed = performance.now();
        await until("each side sees the other back", CONVERGE_MS, notLogged("is back", across));
        await until("every node holds the greatest versions", CONVERGE_MS, async () => [
          ...running(),
          ...mismatches(await getAll(h0, hosts, keys), expected),
        ]);
        console.log(
          `kv on ${HOSTS} hosts: converged ${((performance.now() - healed) / 1000).toFixed(1)} s ` +
            `after the partition healed; "both" went to ${expected.both.value} ` +
            `(clock ${expected.both.clock}, origin ${expected.both.origin})`,
        );
        const after = await Promise.all(hosts.map((h) => cli(h, ["kv", "members", at(h)])));
        for (const [i, t] of after.entries()) {
          const states = [...parseMembers(t.stdout).values()];
          assert.deepEqual(states, ["alive", "alive", "alive", "alive"], `h${i}:\n${t.stdout}`);
        }

        if (Deno.env.get("KV_HOSTS_LOGS")) console.log(logs());
        for (const p of nodes) await p.stop(5000);
        for (const [i, p] of nodes.entries()) {
          assert.equal((await p.status).code, 0, `h${i}:\n${logs()}`);
        }
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
