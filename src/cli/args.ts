/**
 * Command line parsing on top of `node:util` `parseArgs`, with Go-style single-dash long flags
 * (`-port 9999`), one-line usage errors, and typed value helpers.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { type CommandSpec, type OptionSpec, UsageError } from "./command.ts";
import { parseHostPort } from "../net/hostport.ts";

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
 * const args = normalizeGoFlags(["-port", "1", "-v"], new Set(["port"]));
 * console.assert(args.join(" ") === "--port 1 -v");
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

function describeParseError(err: unknown): string {
  const e = err as { code?: string; message?: string };
  const msg = e.message ?? String(err);
  const quoted = /'([^' ]*)[^']*'/.exec(msg)?.[1];
  switch (e.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return `unknown option '${quoted ?? msg}'`;
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      return /argument missing/.test(msg)
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
 * const spec = {
 *   name: "serve",
 *   summary: "",
 *   options: { port: { type: "string" as const, description: "", default: "7777" } },
 * };
 * const { values } = parseCommandArgs(spec, ["-port", "9"], "bitclone serve");
 * console.assert(values.port === "9");
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
      args: normalizeGoFlags(args, new Set(Object.keys(options))),
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
 * Reads a decimal integer from an option or argument text, or throws {@linkcode UsageError}.
 *
 * @example
 * ```ts
 * import { intValue } from "./args.ts";
 * console.assert(intValue("8333", "--port", "bitclone peer", { min: 1, max: 65535 }) === 8333);
 * ```
 */
export function intValue(
  text: string,
  what: string,
  path: string,
  options: IntValueOptions = {},
): number {
  const { min = 0, max = Number.MAX_SAFE_INTEGER } = options;
  const n = /^-?\d+$/.test(text.trim()) ? Number(text.trim()) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(
      `${what} must be a whole number from ${min} to ${max}, not '${text}'`,
      path,
    );
  }
  return n;
}

/**
 * Reads a port number (0 to 65535; 0 asks the OS for a free port).
 *
 * @example
 * ```ts
 * import { portValue } from "./args.ts";
 * console.assert(portValue("0", "--port", "bitclone node") === 0);
 * ```
 */
export function portValue(text: string, what: string, path: string): number {
  return intValue(text, what, path, { min: 0, max: 65535 });
}

/**
 * Splits `HOST:PORT`, `[v6]:PORT` or a bare IPv6 `v6:PORT` into its parts, or throws
 * {@linkcode UsageError}.
 *
 * @example
 * ```ts
 * import { hostPortValue } from "./args.ts";
 * const { hostname, port } = hostPortValue("[::1]:9999", "HOST:PORT", "bitclone lsp client");
 * console.assert(hostname === "::1" && port === 9999);
 * ```
 */
export function hostPortValue(
  text: string,
  what: string,
  path: string,
): { hostname: string; port: number } {
  const hp = parseHostPort(text);
  if (!hp) throw new UsageError(`${what} must look like HOST:PORT, not '${text}'`, path);
  if (hp.port === 0) throw new UsageError(`the port in ${what} must be from 1 to 65535`, path);
  return hp;
}
