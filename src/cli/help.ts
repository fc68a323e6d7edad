/**
 * Renders `--help` text from a {@linkcode CommandSpec}.
 *
 * @module
 */
import type { CommandSpec, OptionSpec } from "./command.ts";

function optionLabel(name: string, o: OptionSpec): string {
  const value = o.type === "string" ? ` ${o.valueName ?? "VALUE"}` : "";
  const short = o.short ? `-${o.short}, ` : "    ";
  return `${short}--${name}${value}`;
}

function table(rows: [string, string][]): string {
  const width = Math.min(34, Math.max(0, ...rows.map(([l]) => l.length)));
  return rows.map(([l, r]) => `  ${l.padEnd(width)}  ${r}`).join("\n");
}

/**
 * Builds the help text of a command.
 *
 * @example
 * ```ts
 * import { renderHelp } from "./help.ts";
 * import assert from "node:assert/strict";
 * const text = renderHelp({ name: "x", summary: "Does x" }, "bitclone x", {});
 * assert.ok(text.includes("Usage: bitclone x"));
 * ```
 */
export function renderHelp(
  spec: CommandSpec,
  path: string,
  globalOptions: Record<string, OptionSpec>,
): string {
  const parts: string[] = [];
  const pos = (spec.positionals ?? []).map((p) => {
    const n = p.variadic ? `${p.name}...` : p.name;
    return p.optional ? `[${n}]` : n;
  });
  const usage = spec.subcommands
    ? `${path} <command> [options]`
    : [path, "[options]", ...pos].join(" ");
  parts.push(`${spec.summary}\n\nUsage: ${usage}`);
  if (spec.description) parts.push(spec.description.trim());
  if (spec.subcommands) {
    parts.push(
      "Commands:\n" + table(spec.subcommands.map((c) => [c.name, c.summary])) +
        `\n\nRun '${path} <command> --help' for a command's options.`,
    );
  }
  if (spec.positionals?.length) {
    parts.push("Arguments:\n" + table(spec.positionals.map((p) => [p.name, p.description])));
  }
  const row = ([name, o]: [string, OptionSpec]): [string, string] => [
    optionLabel(name, o),
    o.default !== undefined && o.default !== false
      ? `${o.description} (default: ${o.default})`
      : o.description,
  ];
  if (spec.options && Object.keys(spec.options).length) {
    parts.push("Options:\n" + table(Object.entries(spec.options).map(row)));
  }
  parts.push("Global options:\n" + table(Object.entries(globalOptions).map(row)));
  const hasLong = Object.keys(spec.options ?? {}).some((n) => n.length > 1);
  if (hasLong) parts.push("Long options may also be written Go-style with one dash: -port 9999.");
  if (spec.examples?.length) {
    parts.push("Examples:\n" + spec.examples.map((e) => `  ${e}`).join("\n"));
  }
  return parts.join("\n\n") + "\n";
}
