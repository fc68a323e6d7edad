/**
 * House rule (STYLE.md): "An `@example` asserts something that could be false, or it is not
 * there." `deno test --doc` runs every JSDoc example, but `console.assert` only prints, so an
 * example that uses it can never fail. Every example that runs must assert with `node:assert`.
 */
import assert from "node:assert/strict";

/** One fenced code block of a JSDoc comment. */
interface Example {
  file: string;
  line: number;
  /** The words after the opening fence, such as `ts ignore`. */
  info: string;
  code: string;
}

async function* walk(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) yield* walk(path);
    else if (entry.name.endsWith(".ts")) yield path;
  }
}

/** The fenced code blocks of the JSDoc comments (`/** ... *\/`) of one file. */
function jsdocExamples(file: string, text: string): Example[] {
  const examples: Example[] = [];
  for (const comment of text.matchAll(/\/\*\*[\s\S]*?\*\//g)) {
    const startLine = text.slice(0, comment.index).split("\n").length;
    const lines = comment[0].split("\n").map((l) => l.replace(/^\s*\*? ?/, ""));
    let open: { line: number; info: string; code: string[] } | undefined;
    lines.forEach((l, i) => {
      const fence = /^```(.*)$/.exec(l.trim());
      if (!fence) {
        open?.code.push(l);
      } else if (!open) {
        open = { line: startLine + i, info: fence[1].trim(), code: [] };
      } else {
        examples.push({
          file,
          line: open.line,
          info: open.info,
          code: open.code.join("\n"),
        });
        open = undefined;
      }
    });
  }
  return examples;
}

/** What is wrong with one example, or `undefined`. */
function exampleProblem(example: Example): string | undefined {
  if (!/^(ts|typescript)\b/.test(example.info)) return undefined; // prose or shell, not run
  if (/\bconsole\.assert\(/.test(example.code)) {
    return "uses console.assert, which never fails a doc test";
  }
  if (/\bignore\b/.test(example.info)) return undefined; // needs I/O a doc test cannot have
  if (!/from "node:assert(\/strict)?"/.test(example.code)) {
    return "asserts nothing with node:assert";
  }
  return undefined;
}

Deno.test("jsdocExamples finds fenced blocks and exampleProblem judges them", () => {
  const text = [
    "/**",
    " * Adds.",
    " *",
    " * @example",
    " * ```ts",
    ' * import assert from "node:assert/strict";',
    " * assert.equal(1 + 1, 2);",
    " * ```",
    " * @example",
    " * ```ts",
    " * console.assert(1 + 1 === 3);",
    " * ```",
    " * @example",
    " * ```ts ignore",
    " * await fetch(url);",
    " * ```",
    " * @example",
    " * ```ts",
    " * const x = 1;",
    " * ```",
    " */",
  ].join("\n");
  const examples = jsdocExamples("f.ts", text);
  assert.deepEqual(examples.map((e) => [e.line, e.info]), [
    [5, "ts"],
    [10, "ts"],
    [14, "ts ignore"],
    [18, "ts"],
  ]);
  assert.deepEqual(examples.map(exampleProblem), [
    undefined,
    "uses console.assert, which never fails a doc test",
    undefined,
    "asserts nothing with node:assert",
  ]);
});

Deno.test("every JSDoc example under src/ asserts with node:assert, never console.assert", async () => {
  const root = new URL("../", import.meta.url).pathname;
  const problems: string[] = [];
  let checked = 0;
  for await (const abs of walk(`${root}src`)) {
    const rel = abs.slice(root.length);
    for (const example of jsdocExamples(rel, await Deno.readTextFile(abs))) {
      checked++;
      const problem = exampleProblem(example);
      if (problem) problems.push(`${example.file}:${example.line}: ${problem}`);
    }
  }
  assert.ok(
    checked > 100,
    `only ${checked} examples found: is the walk broken?`,
  );
  assert.deepEqual(problems, []);
});
