/**
 * A checker of the Prometheus text exposition format (version 0.0.4) for the status tests: it
 * parses every line and throws, naming the line, on anything the format forbids or our metrics
 * must not do. Not a test file.
 *
 * Rules checked: lines are `# HELP name text`, `# TYPE name type`, samples or blank; names
 * match `[a-zA-Z_:][a-zA-Z0-9_:]*`, label names `[a-zA-Z_][a-zA-Z0-9_]*` (not `__…`); label
 * values are quoted with only `\\`, `\"` and `\n` escaped; values are Go floats (`NaN`, `+Inf`,
 * `-Inf` included); a family has at most one HELP and one TYPE, its TYPE comes before its
 * samples, its samples are together, no sample repeats; ours also: every family has HELP and
 * TYPE, names start with `bitclone_`, counters end in `_total`, the text ends with a newline.
 */

/** One sample. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const VALUE = /^(?:[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)|NaN|[+-]Inf)$/;
const TYPES = ["counter", "gauge", "histogram", "summary", "untyped"];

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  const fail = (why: string): never => {
    throw new SyntaxError(`${why}: ${line}`);
  };
  while (i < text.length) {
    const eq = text.indexOf("=", i);
    if (eq < 0) fail("label without '='");
    const name = text.slice(i, eq).trim();
    if (!LABEL.test(name) || name.startsWith("__")) fail(`bad label name '${name}'`);
    if (name in labels) fail(`label '${name}' twice`);
    if (text[eq + 1] !== '"') fail("label value not quoted");
    let j = eq + 2, value = "";
    for (;; j++) {
      if (j >= text.length) fail("unterminated label value");
      const c = text[j];
      if (c === '"') break;
      if (c === "\n") fail("raw newline in a label value");
      if (c === "\\") {
        const n = text[++j];
        if (n === "\\") value += "\\";
        else if (n === '"') value += '"';
        else if (n === "n") value += "\n";
        else fail(`bad escape '\\${n}'`);
      } else value += c;
    }
    labels[name] = value;
    i = j + 1;
    if (text[i] === ",") i++;
    else if (i < text.length) fail("labels not separated by ','");
  }
  return labels;
}

/**
 * Checks `text` and returns its samples.
 *
 * @throws {SyntaxError} Naming the first line that breaks a rule.
 */
export function checkMetricsText(text: string): Sample[] {
  if (!text.endsWith("\n")) throw new SyntaxError("the text does not end with a newline");
  const help = new Set<string>(), types = new Map<string, string>(), seen = new Set<string>();
  const finished = new Set<string>();
  let current: string | undefined;
  const samples: Sample[] = [];
  const family = (name: string) => {
    for (const [f, t] of types) {
      if (name === f) return f;
      if (
        (t === "histogram" && /_(?:bucket|sum|count)$/.test(name) ||
          t === "summary" && /_(?:sum|count)$/.test(name)) &&
        name.replace(/_(?:bucket|sum|count)$/, "") === f
      ) return f;
    }
    return name;
  };
  for (const line of text.slice(0, -1).split("\n")) {
    if (line === "") continue;
    const fail = (why: string): never => {
      throw new SyntaxError(`${why}: ${line}`);
    };
    if (line.startsWith("#")) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!m) continue; // a comment
      const [, kind, name, rest] = m;
      if (!NAME.test(name)) fail(`bad metric name '${name}'`);
      if (finished.has(name) || (current !== undefined && current !== name && seen.has(name))) {
        fail(`family ${name} is not together`);
      }
      if (kind === "HELP") {
        if (help.has(name)) fail("second HELP");
        if (/\\(?![\\n])/.test(rest)) fail("bad escape in HELP");
        help.add(name);
      } else {
        if (types.has(name)) fail("second TYPE");
        if (!TYPES.includes(rest)) fail(`unknown type '${rest}'`);
        if (samples.some((s) => family(s.name) === name)) fail("TYPE after samples");
        types.set(name, rest);
      }
      if (current !== undefined && current !== name) finished.add(current);
      current = name;
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: (-?\d+))?$/.exec(line);
    if (!m) fail("not a sample");
    const [, name, labelText, value] = m!;
    if (!VALUE.test(value)) fail(`bad value '${value}'`);
    const f = family(name);
    if (finished.has(f)) fail(`family ${f} is not together`);
    if (current !== undefined && current !== f) finished.add(current);
    current = f;
    const labels = labelText === undefined ? {} : parseLabels(labelText, line);
    const key = name + JSON.stringify(Object.entries(labels).sort());
    if (seen.has(key)) fail("sample repeated");
    seen.add(key);
    seen.add(f);
    samples.push({ name, labels, value: Number(value.replace("Inf", "Infinity")) });
  }
  for (const f of new Set(samples.map((s) => family(s.name)))) {
    if (!help.has(f) || !types.has(f)) throw new SyntaxError(`${f} has no HELP or TYPE`);
    if (!f.startsWith("bitclone_")) throw new SyntaxError(`${f} does not start with bitclone_`);
    if (types.get(f) === "counter" && !f.endsWith("_total")) {
      throw new SyntaxError(`counter ${f} does not end with _total`);
    }
  }
  for (const f of types.keys()) {
    if (!help.has(f)) throw new SyntaxError(`${f} has a TYPE but no HELP`);
    if (!f.startsWith("bitclone_")) throw new SyntaxError(`${f} does not start with bitclone_`);
  }
  return samples;
}
