/**
 * House rule (STYLE.md): protocol cores are sans-I/O. Every file under `src/` is a core unless it
 * is listed here as an adapter; a core must not touch `Deno.*`, real clocks, real timers or OS
 * randomness. A new adapter file must be added to the list on purpose.
 */
import assert from "node:assert/strict";

const ADAPTERS = [
  /^src\/cli\//,
  /^src\/node\//,
  /^src\/net\//,
  /^src\/util\/(log|entropy)\.ts$/,
  /^src\/sim\/harness\.ts$/,
  /^src\/lsp\/(client|server|service|echo|_reader)\.ts$/,
  /^src\/version\.ts$/,
  /^src\/miner\/(worker|worker_pool)\.ts$/,
  /^src\/miner\/(server|miner|client|service)\.ts$/,
  /^src\/tracker\/ring\/(tracker_server|peer_node)\.ts$/,
  /^src\/tracker\/(service|part1\/(server|client))\.ts$/,
  /^src\/bitclone\/(tcp_adapter|peers_store|node_runner|service)\.ts$/,
];

const FORBIDDEN: [RegExp, string][] = [
  [/\bDeno\./, "Deno.*"],
  [/\bDate\.now\(/, "Date.now()"],
  [/\bnew Date\(\)/, "new Date()"],
  [/\bperformance\.now\(/, "performance.now()"],
  [/\bMath\.random\(/, "Math.random()"],
  [/\bgetRandomValues\(/, "crypto.getRandomValues()"],
  // a bare call, not a method of the virtual clock (`clock.setTimeout(`, `setTimeout(ms: number`)
  [/(^|[^.\w])set(?:Timeout|Interval)\((?!\s*\w+\s*:)/m, "setTimeout/setInterval"],
  [/from "\.\.\/util\/entropy\.ts"/, "src/util/entropy.ts"],
];

async function* walk(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) yield* walk(path);
    else if (entry.name.endsWith(".ts")) yield path;
  }
}

/** Strips comments (JSDoc examples may show adapter code) before matching. */
function code(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`])\/\/.*$/gm, "$1");
}

Deno.test("protocol cores under src/ use no Deno.*, clock, timer or OS randomness", async () => {
  const root = new URL("../", import.meta.url).pathname;
  const offences: string[] = [];
  let cores = 0;
  for await (const abs of walk(`${root}src`)) {
    const rel = abs.slice(root.length);
    if (ADAPTERS.some((re) => re.test(rel))) continue;
    cores++;
    const text = code(await Deno.readTextFile(abs));
    for (const [re, what] of FORBIDDEN) {
      if (re.test(text)) offences.push(`${rel}: ${what}`);
    }
  }
  assert.ok(cores >= 10, `only ${cores} core files found: is the walk broken?`);
  assert.deepEqual(offences, [], "cores must stay sans-I/O (or list the file as an adapter)");
});
