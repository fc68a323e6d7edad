/**
 * The purity checker behind `purity_test.ts`: which files under `src/` are adapters (allowed to
 * touch the outside world), and which escapes from sans-I/O a core's code contains. Comments and
 * string contents are removed by a small tokenizer first, so a comment or a string never hides
 * code from the check nor raises a false alarm.
 */

/**
 * The layers that are I/O by nature (the command line, the node framework, the drivers) and files
 * named as adapters: `*_deno.ts` binds a core to Deno, `*_worker.ts` runs inside a Web Worker.
 */
export function isAdapter(rel: string): boolean {
  return /^src\/(cli|node|net)\//.test(rel) || /_(deno|worker)\.ts$/.test(rel);
}

/**
 * Removes comments and replaces the contents of string and template literals with nothing,
 * keeping the code inside `${…}` of templates. Regular-expression literals are kept as code.
 */
export function codeOnly(src: string): string {
  let out = "";
  let i = 0;
  const braces: number[] = []; // for each open `${`, the brace depth at which it closes
  let depth = 0;
  const n = src.length;
  const template = (): void => {
    // at the character after a backtick or after the `}` closing a `${`: skip text up to the end
    while (i < n) {
      const c = src[i];
      if (c === "\\") i += 2;
      else if (c === "`") {
        out += "`";
        i++;
        return;
      } else if (c === "$" && src[i + 1] === "{") {
        out += "${";
        i += 2;
        braces.push(depth);
        depth++;
        return;
      } else i++;
    }
  };
  while (i < n) {
    const c = src[i], d = src[i + 1];
    if (c === "/" && d === "/") {
      while (i < n && src[i] !== "\n") i++;
    } else if (c === "/" && d === "*") {
      const end = src.indexOf("*/", i + 2);
      i = end < 0 ? n : end + 2;
      out += " ";
    } else if (c === '"' || c === "'") {
      i++;
      while (i < n && src[i] !== c && src[i] !== "\n") {
        i += src[i] === "\\" ? 2 : 1;
      }
      i++;
      out += c + c;
    } else if (c === "`") {
      out += "`";
      i++;
      template();
    } else if (c === "{") {
      depth++;
      out += c;
      i++;
    } else if (c === "}") {
      depth--;
      i++;
      if (braces.length > 0 && braces[braces.length - 1] === depth) {
        braces.pop();
        out += "}";
        template();
      } else out += "}";
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

const ESCAPES: readonly [RegExp, string][] = [
  [/\bDeno\b/, "Deno"],
  [/\bglobalThis\b/, "globalThis"],
  [/\bDate\.now\b/, "Date.now"],
  [/\bnew\s+Date\s*\(\s*\)/, "new Date()"],
  [/\bperformance\b/, "performance"],
  [/\bnew\s+Worker\b/, "Worker"],
  [/(^|[^.\w$])fetch\s*\(/m, "fetch"],
  [/\bMath\.random\b/, "Math.random"],
  [/(^|[^.\w$])crypto\b(?!\.subtle\b)/m, "crypto"], // Web Crypto digests are deterministic
  [/\b(?:getRandomValues|randomUUID|randomBytes)\b/, "OS randomness"],
  // a bare timer function, called or aliased; a method of a virtual clock (`clock.setTimeout(`)
  // and a method declaration with typed parameters (`setTimeout(at: number`) are not escapes
  [
    /(^|[^.\w$])(?:setTimeout|setInterval|setImmediate|queueMicrotask|clearTimeout|clearInterval|requestAnimationFrame)\b(?!\s*\(\s*\w+\s*[:?])/m,
    "timers",
  ],
];

/**
 * The escapes from sans-I/O in `src` (a core file's text): Deno (or an alias of it), globalThis,
 * clocks, OS randomness, timers and microtasks, and imports of `node:` modules other than
 * `node:assert`, or dynamic imports.
 */
export function findEscapes(src: string): string[] {
  const code = codeOnly(src);
  const found = ESCAPES.filter(([re]) => re.test(code)).map(([, what]) => what);
  // imports keep their specifier, so look at the import lines of the raw text
  for (
    const m of src.matchAll(
      /^\s*(?:import|export)\b[^;]*?from\s*["']([^"']+)["']/gm,
    )
  ) {
    if (
      m[1].startsWith("node:") && m[1] !== "node:assert" &&
      m[1] !== "node:assert/strict"
    ) {
      found.push(`import ${m[1]}`);
    }
  }
  if (/\bimport\s*\(/.test(code)) found.push("dynamic import");
  return found;
}
