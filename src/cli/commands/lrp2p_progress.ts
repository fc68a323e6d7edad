/**
 * The progress bar of `bitclone lrp2p send` and `recv` on stderr:
 * `[██████▋     ]  40.3%  2.10MB/5.24MB  4.37MB/s  0.7s left`.
 *
 * @module
 */
import { formatBar, formatCount, formatDuration } from "../../miner/mod.ts";
import type { TransferProgress } from "../../lrp2p/mod.ts";

const enc = new TextEncoder();
function writeAll(file: { writeSync(p: Uint8Array): number }, bytes: Uint8Array): void {
  for (let off = 0; off < bytes.length;) off += file.writeSync(bytes.subarray(off));
}

/**
 * One progress line, fitted to `columns` (the bar, then the counts, then the rate are left out
 * when it is too narrow).
 *
 * @example
 * ```ts
 * import { formatTransferLine } from "./lrp2p_progress.ts";
 * import assert from "node:assert/strict";
 * const line = formatTransferLine({ done: 2_500_000, total: 10_000_000 }, 1000, 80);
 * assert.ok(line.includes("25.0%"));
 * assert.ok(line.includes("2.50MB/10.0MB"));
 * assert.ok(line.includes("2.50MB/s"));
 * assert.ok(line.includes("3.0s left"));
 * assert.ok([...formatTransferLine({ done: 1, total: 2 }, 1, 20)].length <= 19);
 * ```
 */
export function formatTransferLine(
  p: TransferProgress,
  elapsedMillis: number,
  columns: number,
): string {
  const fraction = p.total === 0 ? 1 : p.done / p.total;
  const percent = `${(Math.floor(fraction * 1000) / 10).toFixed(1)}%`;
  const rate = elapsedMillis > 0 ? (p.done / elapsedMillis) * 1000 : 0;
  const left = p.done >= p.total
    ? "0.0s left"
    : rate > 0
    ? `${formatDuration(((p.total - p.done) / rate) * 1000)} left`
    : "-- left";
  const bar = `[${formatBar(fraction, 24)}]`;
  const counts = `${formatCount(p.done)}B/${formatCount(p.total)}B`;
  const speed = `${formatCount(rate)}B/s`;
  const candidates = [
    [bar, percent, counts, speed, left],
    [percent, counts, speed, left],
    [percent, speed, left],
    [percent, left],
  ];
  for (const parts of candidates) {
    const text = parts.join("  ");
    if ([...text].length <= columns - 1) return text;
  }
  return percent;
}

/** A progress bar on stderr, drawn only when stderr is a terminal, at most 10 times a second. */
export function progressDrawer(): {
  update(p: TransferProgress): void;
  clear(): void;
  start: number;
} {
  const drawing = Deno.stderr.isTerminal();
  const start = performance.now();
  let last = -Infinity;
  let drawn = false;
  const columns = () => {
    try {
      return Math.max(10, Deno.consoleSize().columns);
    } catch {
      return 80;
    }
  };
  return {
    start,
    update(p) {
      if (!drawing) return;
      const now = performance.now();
      if (now - last < 100 && p.done < p.total) return;
      last = now;
      drawn = true;
      writeAll(
        Deno.stderr,
        enc.encode(`\r${formatTransferLine(p, now - start, columns())}\x1b[K`),
      );
    },
    clear() {
      if (drawn) writeAll(Deno.stderr, enc.encode("\r\x1b[K"));
      drawn = false;
    },
  };
}
