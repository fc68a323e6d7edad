/**
 * The shape of a bitclone command: its name, help text, options and the function that runs it.
 * Commands are plain data plus a `run` function, so help and parsing are written once.
 *
 * @module
 */
import type { Logger } from "../util/mod.ts";

/** One option of a command. Every long option also accepts the Go style `-name value`. */
export interface OptionSpec {
  /** A flag (`boolean`) or an option that takes a value (`string`). */
  type: "string" | "boolean";
  /** What it does, one line, for `--help`. */
  description: string;
  /** One-letter alias, such as `v` for `-v`. */
  short?: string;
  /** The value's name in help (`PORT`). @default {"VALUE"} */
  valueName?: string;
  /** The default shown in help and used when absent. */
  default?: string | boolean;
  /** May it be given more than once? @default {false} */
  multiple?: boolean;
}

/** One positional argument of a command, for help and arity checks. */
export interface PositionalSpec {
  /** Its name in help (`HOST:PORT`). */
  name: string;
  /** What it is, one line. */
  description: string;
  /** May it be left out? @default {false} */
  optional?: boolean;
  /** Does it take all the remaining arguments? @default {false} */
  variadic?: boolean;
}

/** What a command's `run` gets. */
export interface CommandContext {
  /** Option values by name (strings for `string` options, booleans for flags, arrays if multiple). */
  values: Record<string, string | boolean | string[] | undefined>;
  /** The positional arguments, already checked against the command's arity. */
  positionals: string[];
  /** Aborted on Ctrl-C (SIGINT) or SIGTERM: stop cleanly. */
  signal: AbortSignal;
  /** The command's logger (stderr). */
  log: Logger;
  /** Writes a command's own output to stdout. */
  print(text: string): void;
}

/**
 * A command or a group of subcommands.
 */
export interface CommandSpec {
  /** The word that names it on the command line. */
  name: string;
  /** One line for the parent's command list. */
  summary: string;
  /** Longer help text (paragraphs) shown by `--help`. */
  description?: string;
  /** Options besides the global ones. */
  options?: Record<string, OptionSpec>;
  /** Positional arguments, in order. */
  positionals?: PositionalSpec[];
  /** Example command lines for `--help`. */
  examples?: string[];
  /** Subcommands: this command is then a group and has no `run` of its own. */
  subcommands?: CommandSpec[];
  /** Runs the command; returns the exit code (default 0). */
  run?: (ctx: CommandContext) => Promise<number | void> | number | void;
}

/**
 * A usage mistake on the command line (exit code 2): unknown command or option, missing or extra
 * argument, a value out of range.
 *
 * @example
 * ```ts
 * import { UsageError } from "./command.ts";
 * import assert from "node:assert/strict";
 * const err = new UsageError("missing PORT", "bitclone mine server");
 * assert.equal(err.command, "bitclone mine server");
 * ```
 */
export class UsageError extends Error {
  override name = "UsageError";
  /** The command path the mistake belongs to, for the "see --help" hint. */
  command: string;
  constructor(message: string, command = "bitclone") {
    super(message);
    this.command = command;
  }
}
