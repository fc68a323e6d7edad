/**
 * The request client's progress line, as pure formatting: nonces searched out of the total, the
 * hash rate and the time left, fitted to the terminal's width. The client draws it on stderr
 * (only when stderr is a terminal) from the server's Progress messages; this file does no I/O.
 *
 * ```
 * [█████████▋              ]  40.3%  4.03M/10.0M nonces  2.51M/s  3.8s left
 * ```
 *
 * @example A line
 * ```ts
 * import { formatProgressBar } from "./progress_bar.ts";
 * import assert from "node:assert/strict";
 * const line = formatProgressBar({ searched: 5_000_000n, total: 10_000_000n, elapsedMillis: 2000 });
 * assert.ok(line.includes("50.0%"));
 * assert.ok(line.includes("2.50M/s"));
 * assert.ok(line.includes("2.0s left"));
 * ```
 *
 * @module
 */

import { checkInt as checkIntIn } from "../util/mod.ts";

/**
 * How far a request has come, as the client sees it.
 */
export interface ProgressSnapshot {
  /** Nonces searched so far, 0 … `total`. */
  readonly searched: bigint;
  /** Nonces in the request's range (`upper - lower + 1`), at least 1. */
  readonly total: bigint;
  /** Time since the request was sent, in milliseconds. */
  readonly elapsedMillis: number;
}

/**
 * Options of {@linkcode formatProgressBar}.
 *
 * @example A narrow terminal
 * ```ts
 * import { formatProgressBar, type ProgressBarOptions } from "./progress_bar.ts";
 * import assert from "node:assert/strict";
 * const options: ProgressBarOptions = { columns: 40 };
 * const line = formatProgressBar({ searched: 1n, total: 2n, elapsedMillis: 1 }, options);
 * assert.ok([...line].length <= 39);
 * ```
 */
export interface ProgressBarOptions {
  /**
   * Cells of the bar itself (each cell shows eighths), 4 … 200.
   *
   * @default 24
   */
  barCells?: number;
  /**
   * The terminal's width: the line is cut to `columns - 1` characters so that it never wraps
   * (a wrapped line cannot be redrawn in place). At least 10.
   *
   * @default 80
   */
  columns?: number;
}

const SI = ["", "k", "M", "G", "T", "P", "E", "Z"];
/** Eighths of a cell, from empty to full. */
const EIGHTHS = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"];
const FULL = "█";

/**
 * Formats a count with three significant digits and an SI prefix: `999`, `1.23k`, `45.6M`,
 * `18.4E` (2^64).
 *
 * @param value A non-negative count (a bigint is converted to a Number for display).
 * @returns The short text.
 * @throws {RangeError} When `value` is negative or not finite.
 *
 * @example Prefixes
 * ```ts
 * import { formatCount } from "./progress_bar.ts";
 * import assert from "node:assert/strict";
 * assert.equal(formatCount(999), "999");
 * assert.equal(formatCount(1234), "1.23k");
 * assert.equal(formatCount(2n ** 64n - 1n), "18.4E");
 * ```
 */
export function formatCount(value: number | bigint): string {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) {
    throw new RangeError(`Cannot format count ${value}: not a finite non-negative number`);
  }
  if (n < 999.5) return n < 10 && !Number.isInteger(n) ? n.toFixed(1) : String(Math.round(n));
  let scaled = n;
  let prefix = 0;
  while (scaled >= 999.5 && prefix < SI.length - 1) {
    scaled /= 1000;
    prefix++;
  }
  const digits = scaled >= 99.95 ? 0 : scaled >= 9.995 ? 1 : 2;
  return `${scaled.toFixed(digits)}${SI[prefix]}`;
}

/**
 * Formats a duration compactly: `0.4s`, `12s`, `4m05s`, `3h02m`, `12d04h`, `>999d`.
 *
 * @param millis A non-negative duration in milliseconds (`Infinity` gives `>999d`).
 * @returns The short text.
 * @throws {RangeError} When `millis` is negative or NaN.
 *
 * @example Each unit
 * ```ts
 * import { formatDuration } from "./progress_bar.ts";
 * import assert from "node:assert/strict";
 * assert.equal(formatDuration(400), "0.4s");
 * assert.equal(formatDuration(245_000), "4m05s");
 * assert.equal(formatDuration(Infinity), ">999d");
 * ```
 */
export function formatDuration(millis: number): string {
  if (Number.isNaN(millis) || millis < 0) {
    throw new RangeError(`Cannot format duration ${millis}: not a non-negative number`);
  }
  const s = millis / 1000;
  if (s < 9.95) return `${s.toFixed(1)}s`;
  if (s < 59.5) return `${Math.round(s)}s`;
  const pad = (n: number) => String(n).padStart(2, "0");
  const totalSeconds = Math.round(s);
  if (totalSeconds < 3600) return `${Math.floor(totalSeconds / 60)}m${pad(totalSeconds % 60)}s`;
  const totalMinutes = Math.round(s / 60);
  if (totalMinutes < 24 * 60) {
    return `${Math.floor(totalMinutes / 60)}h${pad(totalMinutes % 60)}m`;
  }
  const totalHours = Math.round(s / 3600);
  if (totalHours < 1000 * 24) return `${Math.floor(totalHours / 24)}d${pad(totalHours % 24)}h`;
  return ">999d";
}

/**
 * Draws the bar itself: `cells` characters, full blocks then one partial block (in eighths)
 * then spaces.
 *
 * @param fraction How full, 0 … 1 (clamped).
 * @param cells The number of characters.
 * @returns The bar, exactly `cells` characters long.
 *
 * @example Half full
 * ```ts
 * import { formatBar } from "./progress_bar.ts";
 * import assert from "node:assert/strict";
 * assert.equal(formatBar(0.5, 4), "██  ");
 * ```
 */
export function formatBar(fraction: number, cells: number): string {
  const f = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
  const eighths = Math.floor(f * cells * 8);
  const full = Math.floor(eighths / 8);
  const part = full < cells ? EIGHTHS[eighths % 8] : "";
  return (FULL.repeat(full) + part).padEnd(cells, " ");
}

function checkInt(name: string, value: number, min: number, max: number): number {
  return checkIntIn(name, value, min, max, "draw progress");
}

/**
 * Formats the progress line: bar, percentage, nonces searched out of the total, hash rate (since
 * the request was sent) and the time left at that rate. No escape codes: the caller adds `\r`
 * and the clear-to-end-of-line sequence.
 *
 * @param snapshot Nonces searched, in all, and the time elapsed.
 * @param options The bar's size and the terminal's width.
 * @returns One line, at most `columns - 1` characters.
 * @throws {RangeError} When `total` is below 1, `searched` outside 0 … `total`, the time is
 * negative, or an option is out of range.
 *
 * @example Nothing searched yet
 * ```ts
 * import { formatProgressBar } from "./progress_bar.ts";
 * import assert from "node:assert/strict";
 * const line = formatProgressBar({ searched: 0n, total: 100n, elapsedMillis: 0 });
 * assert.ok(line.includes("0.0%"));
 * assert.ok(line.includes("-- left"));
 * ```
 */
export function formatProgressBar(
  snapshot: ProgressSnapshot,
  options: ProgressBarOptions = {},
): string {
  const { barCells = 24, columns = 80 } = options;
  checkInt("barCells", barCells, 4, 200);
  checkInt("columns", columns, 10, 100_000);
  const { searched, total, elapsedMillis } = snapshot;
  if (typeof searched !== "bigint" || typeof total !== "bigint") {
    throw new TypeError("Cannot draw progress: searched and total must be bigints");
  }
  if (total < 1n || searched < 0n || searched > total) {
    throw new RangeError(`Cannot draw progress: ${searched} searched of ${total}`);
  }
  if (typeof elapsedMillis !== "number" || !(elapsedMillis >= 0)) {
    throw new RangeError(`Cannot draw progress: elapsed time ${elapsedMillis} is not >= 0`);
  }
  // Per ten-thousand, exact in bigint, then shown with one decimal.
  const basisPoints = Number((searched * 10_000n) / total);
  const fraction = basisPoints / 10_000;
  const percent = `${(basisPoints / 100).toFixed(1)}%`.padStart(6, " ");
  const seconds = elapsedMillis / 1000;
  const measured = seconds > 0 ? Number(searched) / seconds : 0;
  const rate = Number.isFinite(measured) ? measured : 0; // too little time to tell
  const left = searched === total
    ? "0.0s left"
    : rate > 0
    ? `${formatDuration((Number(total - searched) / rate) * 1000)} left`
    : "-- left";
  const bar = `[${formatBar(fraction, barCells)}]`;
  const counts = `${formatCount(searched)}/${formatCount(total)} nonces`;
  const speed = `${formatCount(rate)}/s`;
  // The widest that fits: drop the bar first, then the counts, then the rate.
  const candidates = [
    [bar, percent, counts, speed, left],
    [percent, counts, speed, left],
    [percent, speed, left],
    [percent, left],
  ];
  const max = columns - 1;
  let line = percent;
  for (const parts of candidates) {
    const text = parts.join("  ");
    if ([...text].length <= max) {
      line = text;
      break;
    }
  }
  return [...line.trimStart()].slice(0, max).join("");
}
