/**
 * Command line parsing on top of `node:util` `parseArgs`, with Go-style single-dash long flags
 * (`-port 9999`), one-line usage errors, and typed value helpers.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { type CommandSpec, type OptionSpec, UsageError } from "./command.ts";
import { checkHostPort } from "../net/mod.ts";

/** The result of {@linkcode parseCommandArgs}. */
export interface ParsedArgs {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/**
 * Rewrites Go-style flags (`-port`, `-port=9999`) to `--port` when `port` is a long option, so that
 * both styles work. One-letter short options (`-v`) and everything after `--` are left alone.
 *
 * @example
 * ```ts
 * import { normalizeGoFlags } from "./args.ts";
 * import assert from "node:assert/strict";
 * const args = normalizeGoFlags(["-port", "1", "-v"], new Set(["port"]));
 * assert.equal(args.join(" "), "--port 1 -v");
 * ```
 */
export function normalizeGoFlags(
  args: readonly string[],
  longNames: ReadonlySet<string>,
): string[] {
  const out: string[] = [];
  let rest = false;
  for (const arg of args) {
    if (rest || arg === "--") {
      rest = true;
      out.push(arg);
      continue;
    }
    const m = /^-([A-Za-z][\w-]*)(=.*)?$/.exec(arg);
    out.push(m && longNames.has(m[1]) ? `-${arg}` : arg);
  }
  return out;
}

/** A negative number (`-1`, `-2.5`, `-.5`): a value, never an option (no option name is a digit). */
const NEGATIVE_NUMBER = /^-\.?\d/;

/**
 * Makes negative numbers values instead of options, the way Go's flag package and people read them:
 * after an option that takes a value it is that value (`--port -1` becomes `--port=-1`), anywhere
 * else it is a positional argument (it is moved behind a `--`, keeping the positionals' order).
 * Expects {@linkcode normalizeGoFlags}'s output. Everything after an existing `--` is positional.
 *
 * @example
 * ```ts
 * import { negativeNumbersAsValues } from "./args.ts";
 * import assert from "node:assert/strict";
 * const opts = { port: { type: "string" as const } };
 * const args = negativeNumbersAsValues(["--port", "-1", "msg", "-5"], opts);
 * assert.equal(args.join(" "), "--port=-1 -- msg -5");
 * ```
 */
export function negativeNumbersAsValues(
  args: readonly string[],
  options: Readonly<Record<string, { type: "string" | "boolean"; short?: string }>>,
): string[] {
  const takesValue = (arg: string): boolean => {
    const long = /^--([^=]+)$/.exec(arg)?.[1];
    if (long !== undefined) return options[long]?.type === "string";
    const short = /^-([^-])$/.exec(arg)?.[1];
    return short !== undefined &&
      Object.values(options).some((o) => o.short === short && o.type === "string");
  };
  const inOrder: string[] = [];
  const flags: string[] = [];
  const positionals: string[] = [];
  let moved = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      positionals.push(...args.slice(i + 1));
      moved = true;
      break;
    }
    if (takesValue(arg) && i + 1 < args.length) {
      const value = args[++i];
      const pair = NEGATIVE_NUMBER.test(value) ? [`${arg}=${value}`] : [arg, value];
      flags.push(...pair);
      inOrder.push(...pair);
    } else if (NEGATIVE_NUMBER.test(arg)) {
      positionals.push(arg);
      moved = true;
    } else {
      (arg.startsWith("-") && arg !== "-" ? flags : positionals).push(arg);
      inOrder.push(arg);
    }
  }
  return moved ? [...flags, "--", ...positionals] : inOrder;
}

function describeParseError(err: unknown): string {
  const e = err as { code?: string; message?: string };
  const msg = e.message ?? String(err);
  const quoted = /'([^' ]*)[^']*'/.exec(msg)?.[1];
  switch (e.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return `unknown option '${quoted ?? msg}'`;
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      return /argument missing|ambiguous/.test(msg)
        ? `option '${quoted}' needs a value`
        : `option '${quoted}' does not take a value`;
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return `unexpected argument '${quoted ?? msg}'`;
    default:
      return msg.split("\n")[0];
  }
}

/**
 * Parses `args` against `spec`'s options and positionals. Throws {@linkcode UsageError} with a
 * one-line message on anything wrong.
 *
 * @example
 * ```ts
 * import { parseCommandArgs } from "./args.ts";
 * import assert from "node:assert/strict";
 * const spec = {
 *   name: "serve",
 *   summary: "",
 *   options: { port: { type: "string" as const, description: "", default: "7777" } },
 * };
 * const { values } = parseCommandArgs(spec, ["-port", "9"], "bitclone serve");
 * assert.equal(values.port, "9");
 * ```
 */
export function parseCommandArgs(
  spec: CommandSpec,
  args: readonly string[],
  path: string,
  globalOptions: Record<string, OptionSpec> = {},
): ParsedArgs {
  const all = { ...globalOptions, ...spec.options };
  const options: Record<
    string,
    { type: "string" | "boolean"; short?: string; multiple?: boolean; default?: string | boolean }
  > = {};
  for (const [name, o] of Object.entries(all)) {
    options[name] = { type: o.type };
    if (o.short) options[name].short = o.short;
    if (o.multiple) options[name].multiple = true;
    if (o.default !== undefined) {
      options[name].default = o.multiple ? [o.default as string] as never : o.default;
    }
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: negativeNumbersAsValues(normalizeGoFlags(args, new Set(Object.keys(options))), options),
      options,
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw new UsageError(describeParseError(err), path);
  }
  const positionals = parsed.positionals;
  const specs = spec.positionals ?? [];
  const required = specs.filter((p) => !p.optional).length;
  const variadic = specs.some((p) => p.variadic);
  if (positionals.length < required) {
    throw new UsageError(`missing ${specs[positionals.length].name}`, path);
  }
  if (!variadic && positionals.length > specs.length) {
    throw new UsageError(`unexpected argument '${positionals[specs.length]}'`, path);
  }
  return { values: parsed.values as ParsedArgs["values"], positionals };
}

/** Bounds for {@linkcode intValue}. */
export interface IntValueOptions {
  /** Smallest allowed value. @default {0} */
  min?: number;
  /** Largest allowed value. @default {Number.MAX_SAFE_INTEGER} */
  max?: number;
}

/**
 * Reads a decimal integer from an option or argument text, or throws {@linkcode UsageError}: text
 * that is not a whole number is named as such, a number outside `min..max` gets a range error
 * (`--port: -1 is out of range 0..65535`).
 *
 * @example
 * ```ts
 * import { intValue } from "./args.ts";
 * import assert from "node:assert/strict";
 * assert.equal(intValue("8333", "--port", "bitclone peer", { min: 1, max: 65535 }), 8333);
 * ```
 */
export function intValue(
  text: string,
  what: string,
  path: string,
  options: IntValueOptions = {},
): number {
  const { min = 0, max = Number.MAX_SAFE_INTEGER } = options;
  const digits = text.trim();
  if (!/^-?\d+$/.test(digits)) {
    throw new UsageError(
      `${what} must be a whole number from ${min} to ${max}, not '${text}'`,
      path,
    );
  }
  const n = Number(digits);
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`${what}: ${digits} is out of range ${min}..${max}`, path);
  }
  return n;
}

/**
 * Reads a port number (0 to 65535; 0 asks the OS for a free port).
 *
 * @example
 * ```ts
 * import { portValue } from "./args.ts";
 * import assert from "node:assert/strict";
 * assert.equal(portValue("0", "--port", "bitclone node"), 0);
 * ```
 */
export function portValue(text: string, what: string, path: string): number {
  return intValue(text, what, path, { min: 0, max: 65535 });
}

/**
 * Splits `HOST:PORT`, `[v6]:PORT` or a bare IPv6 `v6:PORT` into its parts, or throws
 * {@linkcode UsageError}: one message for text that is not `HOST:PORT`, a range error for a port
 * outside 1..65535 (`HOST:PORT: port 99999 in 'localhost:99999' is out of range 1..65535`).
 *
 * @example
 * ```ts
 * import { hostPortValue } from "./args.ts";
 * import assert from "node:assert/strict";
 * const { hostname, port } = hostPortValue("[::1]:9999", "HOST:PORT", "bitclone lsp client");
 * assert.equal(hostname, "::1");
 * assert.equal(port, 9999);
 * ```
 */
export function hostPortValue(
  text: string,
  what: string,
  path: string,
): { hostname: string; port: number } {
  const hp = checkHostPort(text);
  if ("problem" in hp && hp.problem === "form") {
    throw new UsageError(`${what} must look like HOST:PORT, not '${text}'`, path);
  }
  const port = "problem" in hp ? hp.port : String(hp.port);
  if ("problem" in hp || hp.port === 0) {
    throw new UsageError(`${what}: port ${port} in '${text}' is out of range 1..65535`, path);
  }
  return hp;
}
