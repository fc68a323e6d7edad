/**
 * The import-graph checker behind `layers_test.ts`: the layers of the house (STYLE.md), the rule
 * that a folder is entered only through its `mod.ts`, and cycle detection.
 */

/** One relative import: `from` imports `to` (both repository-relative paths). */
export type Edge = readonly [from: string, to: string];

/**
 * The layer of a file, lowest first: util → core → sim, net → node (the framework) → the
 * protocols → the list of services → cli → main. An import may go down or sideways, never up.
 */
export function layerOf(path: string): number {
  if (path === "main.ts") return 7;
  if (path === "src/services.ts") return 5;
  const top = path.split("/")[1];
  if (path === "src/version.ts" || top === "util") return 0;
  if (top === "core") return 1;
  if (top === "sim" || top === "net") return 2;
  if (top === "node") return 3;
  if (top === "cli") return 6;
  return 4; // a protocol folder
}

const dirOf = (path: string) => path.slice(0, path.lastIndexOf("/"));

/** The imports that break a rule, each with the rule it breaks. */
export function layerViolations(edges: readonly Edge[]): string[] {
  const out: string[] = [];
  for (const [from, to] of edges) {
    if (!to.startsWith("src/")) continue;
    if (layerOf(to) > layerOf(from)) {
      out.push(`${from} -> ${to}: goes up a layer`);
    }
    if (
      from.startsWith("src/") && dirOf(from) !== dirOf(to) &&
      !to.endsWith("/mod.ts")
    ) {
      if (to !== "src/services.ts" && to !== "src/version.ts") {
        out.push(
          `${from} -> ${to}: reaches into another folder (import its mod.ts)`,
        );
      }
    }
  }
  return out;
}

/** Every cycle of the graph, as the files in one strongly connected component. */
export function cycles(edges: readonly Edge[]): string[][] {
  const adj = new Map<string, string[]>();
  for (const [a, b] of edges) {
    if (!adj.has(a)) adj.set(a, []);
    if (!adj.has(b)) adj.set(b, []);
    adj.get(a)!.push(b);
  }
  // Tarjan, iterative so that deep graphs cannot overflow the stack
  let next = 0;
  const index = new Map<string, number>(), low = new Map<string, number>();
  const onStack = new Set<string>(),
    stack: string[] = [],
    found: string[][] = [];
  for (const start of adj.keys()) {
    if (index.has(start)) continue;
    const work: [string, number][] = [[start, 0]];
    while (work.length > 0) {
      const top = work[work.length - 1];
      const [v, i] = top;
      if (i === 0) {
        index.set(v, next);
        low.set(v, next++);
        stack.push(v);
        onStack.add(v);
      }
      const ws = adj.get(v)!;
      if (i < ws.length) {
        top[1]++;
        const w = ws[i];
        if (!index.has(w)) work.push([w, 0]);
        else if (onStack.has(w)) {
          low.set(v, Math.min(low.get(v)!, index.get(w)!));
        }
        continue;
      }
      work.pop();
      if (work.length > 0) {
        const parent = work[work.length - 1][0];
        low.set(parent, Math.min(low.get(parent)!, low.get(v)!));
      }
      if (low.get(v) === index.get(v)) {
        const component: string[] = [];
        let w: string;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          component.push(w);
        } while (w !== v);
        if (component.length > 1 || adj.get(v)!.includes(v)) {
          found.push(component.sort());
        }
      }
    }
  }
  return found;
}

/** The relative imports (`import`/`export … from "./…"`) of one file's text. */
export function importsOf(path: string, text: string): Edge[] {
  const edges: Edge[] = [];
  for (
    const m of text.matchAll(
      /^\s*(?:import|export)\b[^;]*?\bfrom\s*["'](\.[^"']+)["']/gm,
    )
  ) {
    const to = new URL(m[1], `file:///${path}`).pathname.slice(1);
    edges.push([path, to]);
  }
  for (const m of text.matchAll(/^\s*import\s*["'](\.[^"']+)["']/gm)) {
    edges.push([path, new URL(m[1], `file:///${path}`).pathname.slice(1)]);
  }
  return edges;
}
