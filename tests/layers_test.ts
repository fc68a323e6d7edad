/**
 * The house's import rules (STYLE.md, ARCHITECTURE.md), checked on the real tree: layers read
 * top-down (no import goes up a layer), folders import each other only through `mod.ts`, and the
 * import graph has no cycle. The checker itself is tested on small graphs that break each rule.
 */
import assert from "node:assert/strict";
import { cycles, type Edge, importsOf, layerOf, layerViolations } from "./_layers.ts";

async function* walk(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) yield* walk(path);
    else if (entry.name.endsWith(".ts")) yield path;
  }
}

async function treeEdges(): Promise<{ files: number; edges: Edge[] }> {
  const root = new URL("../", import.meta.url).pathname;
  const edges: Edge[] = [];
  let files = 0;
  const paths = [`${root}main.ts`];
  for await (const abs of walk(`${root}src`)) paths.push(abs);
  for (const abs of paths) {
    files++;
    edges.push(
      ...importsOf(abs.slice(root.length), await Deno.readTextFile(abs)),
    );
  }
  return { files, edges };
}

Deno.test("src/ imports go down the layers and into other folders only through mod.ts", async () => {
  const { files, edges } = await treeEdges();
  assert.ok(
    files > 50 && edges.length > 100,
    `only ${files} files, ${edges.length} imports`,
  );
  assert.deepEqual(layerViolations(edges), []);
});

Deno.test("src/ has no import cycle, between files or between folders", async () => {
  const { edges } = await treeEdges();
  assert.deepEqual(cycles(edges), []);
  const folder = (p: string) => p.startsWith("src/") ? p.split("/").slice(0, 2).join("/") : p;
  const folderEdges = edges
    .map(([a, b]) => [folder(a), folder(b)] as const)
    .filter(([a, b]) => a !== b);
  assert.deepEqual(cycles(folderEdges), []);
});

Deno.test("layerViolations() reports an arrow up a layer and a reach into a folder's files", () => {
  assert.deepEqual(layerViolations([["src/node/node.ts", "src/lsp/mod.ts"]]), [
    "src/node/node.ts -> src/lsp/mod.ts: goes up a layer",
  ]);
  assert.deepEqual(
    layerViolations([["src/miner/server.ts", "src/lsp/endpoint.ts"]]),
    [
      "src/miner/server.ts -> src/lsp/endpoint.ts: reaches into another folder (import its mod.ts)",
    ],
  );
  assert.deepEqual(
    layerViolations([["src/miner/server.ts", "src/lsp/mod.ts"]]),
    [],
  );
  assert.deepEqual(
    layerViolations([["src/lsp/conn.ts", "src/lsp/wire.ts"]]),
    [],
  );
  assert.ok(layerOf("src/util/prng.ts") < layerOf("src/core/mod.ts"));
  assert.ok(layerOf("src/node/node.ts") < layerOf("src/services.ts"));
  assert.ok(layerOf("src/services.ts") < layerOf("src/cli/run.ts"));
});

Deno.test("cycles() finds a cycle of any length and nothing in a tree", () => {
  assert.deepEqual(cycles([["a", "b"], ["b", "c"], ["c", "a"], ["c", "d"]]), [[
    "a",
    "b",
    "c",
  ]]);
  assert.deepEqual(cycles([["a", "a"]]), [["a"]]);
  assert.deepEqual(cycles([["a", "b"], ["a", "c"], ["b", "c"]]), []);
});

Deno.test("importsOf() resolves relative imports and exports, and skips packages", () => {
  const text = 'import { a } from "./a.ts";\nexport { b } from "../util/b.ts";\n' +
    'import assert from "node:assert/strict";\nimport type {\n  C,\n} from "./c.ts";\n';
  assert.deepEqual(importsOf("src/lsp/x.ts", text), [
    ["src/lsp/x.ts", "src/lsp/a.ts"],
    ["src/lsp/x.ts", "src/util/b.ts"],
    ["src/lsp/x.ts", "src/lsp/c.ts"],
  ]);
});
