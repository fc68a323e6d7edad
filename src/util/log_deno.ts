/**
 * Logging for every bitclone service, through `@logtape/logtape`. Lines go to stderr (stdout is kept
 * for a command's own output), as text or JSON lines, each tagged with the service that wrote it.
 *
 * Protocol cores never log: they count and report; their adapters log.
 *
 * @module
 */
import {
  configureSync,
  getJsonLinesFormatter,
  getLogger,
  type Logger,
  type LogLevel as LogtapeLevel,
  type LogRecord,
  resetSync,
  type TextFormatter,
} from "@logtape/logtape";

export type { Logger };

/** The levels a user can choose, lowest volume first. */
export const LOG_LEVELS = ["error", "warn", "info", "debug"] as const;
/** A level a user can choose with `--log-level`. */
export type LogLevel = typeof LOG_LEVELS[number];
/** The formats a user can choose with `--log-format`. */
export const LOG_FORMATS = ["text", "json"] as const;
/** A format a user can choose with `--log-format`. */
export type LogFormat = typeof LOG_FORMATS[number];

/** Options for {@linkcode setupLogging}. */
export interface SetupLoggingOptions {
  /** The lowest level written. @default {"info"} */
  level?: LogLevel;
  /** Text for people, JSON lines for machines. @default {"text"} */
  format?: LogFormat;
  /** Where lines go. @default {writes to stderr} */
  write?: (line: string) => void;
}

const TO_LOGTAPE: Record<LogLevel, LogtapeLevel> = {
  error: "error",
  warn: "warning",
  info: "info",
  debug: "debug",
};

const LEVEL_TAG: Record<LogtapeLevel, string> = {
  trace: "TRACE",
  debug: "DEBUG",
  info: "INFO ",
  warning: "WARN ",
  error: "ERROR",
  fatal: "FATAL",
};

function renderMessage(message: readonly unknown[]): string {
  let out = "";
  for (let i = 0; i < message.length; i++) {
    const part = message[i];
    if (i % 2 === 0) out += String(part);
    else if (typeof part === "string") out += part;
    else if (part instanceof Error) out += part.message;
    else out += Deno.inspect(part, { colors: false, compact: true, breakLength: Infinity });
  }
  return out;
}

/** `2026-11-22T02:10:50.123Z INFO  [lsp] listening on udp 0.0.0.0:9999` */
const textFormatter: TextFormatter = (record: LogRecord) => {
  const service = record.category.slice(1).join(".") || record.category.join(".");
  const time = new Date(record.timestamp).toISOString();
  return `${time} ${LEVEL_TAG[record.level]} [${service}] ${renderMessage(record.message)}\n`;
};

const logtapeJsonFormatter = getJsonLinesFormatter({ categorySeparator: "." });

/**
 * `{"@timestamp":…,"level":"INFO","message":"listening on udp 0.0.0.0:9999","logger":"bitclone.lsp",
 * "properties":{…}}`: the message is rendered as the text format renders it (strings unquoted,
 * errors by their message), the values are also kept, structured, in `properties`.
 */
const jsonFormatter: TextFormatter = (record: LogRecord) =>
  logtapeJsonFormatter({ ...record, message: [renderMessage(record.message)] });

const encoder = new TextEncoder();
function writeStderr(line: string): void {
  try {
    Deno.stderr.writeSync(encoder.encode(line));
  } catch {
    // stderr closed: logging must never stop a service
  }
}

/**
 * Configures logging for the whole process. Call it once, at start, from the command line layer.
 *
 * @example Text logs at debug level
 * ```ts
 * import { serviceLogger, setupLogging } from "./log_deno.ts";
 * import assert from "node:assert/strict";
 * const lines: string[] = [];
 * setupLogging({ level: "debug", write: (l) => lines.push(l) });
 * serviceLogger("lsp").debug("hello");
 * assert.ok(lines[0].includes("[lsp] hello"));
 * ```
 */
export function setupLogging(options: SetupLoggingOptions = {}): void {
  const { level = "info", format = "text", write = writeStderr } = options;
  const formatter = format === "json" ? jsonFormatter : textFormatter;
  resetSync();
  configureSync({
    reset: true,
    sinks: { out: (record: LogRecord) => write(formatter(record)) },
    loggers: [
      { category: ["bitclone"], lowestLevel: TO_LOGTAPE[level], sinks: ["out"] },
      { category: ["logtape", "meta"], lowestLevel: "error", sinks: ["out"] },
    ],
  });
}

/**
 * Returns the logger of one service; every line it writes is tagged with `service`.
 *
 * @example A service's logger
 * ```ts
 * import { serviceLogger, setupLogging } from "./log_deno.ts";
 * import assert from "node:assert/strict";
 * const lines: string[] = [];
 * setupLogging({ write: (l) => lines.push(l) });
 * serviceLogger("tracker").info("listening on {port}", { port: 7777 });
 * assert.match(lines[0], /\[tracker\] listening on 7777/);
 * ```
 */
export function serviceLogger(service: string): Logger {
  return getLogger(["bitclone", service]);
}
