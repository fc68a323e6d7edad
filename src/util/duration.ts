/**
 * Durations for log lines and messages: rounded to what a person reads, never
 * `171.9426000000003 ms`.
 *
 * @module
 */

/**
 * Formats a duration in milliseconds, rounded: whole milliseconds below a second (`172 ms`),
 * seconds with up to two decimals below a minute (`1.5 s`, `12.35 s`), whole seconds in minutes
 * above (`2 min 5 s`) and minutes in hours from an hour on (`1 h 2 min`). Negative values count
 * as 0; a value that is not finite is written as it is.
 *
 * @param millis The duration in milliseconds.
 * @returns The rounded text.
 *
 * @example
 * ```ts
 * import { formatDuration } from "./duration.ts";
 * import assert from "node:assert/strict";
 * assert.equal(formatDuration(171.9426000000003), "172 ms");
 * assert.equal(formatDuration(1500), "1.5 s");
 * assert.equal(formatDuration(125_000), "2 min 5 s");
 * ```
 */
export function formatDuration(millis: number): string {
  if (!Number.isFinite(millis)) return `${millis} ms`;
  const ms = Math.max(0, Math.round(millis));
  if (ms < 1000) return `${ms} ms`;
  if (ms < 59_995) return `${Number((ms / 1000).toFixed(2))} s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  const min = Math.round(s / 60);
  return `${Math.floor(min / 60)} h ${min % 60} min`;
}
