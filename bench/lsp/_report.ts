/**
 * Small helpers shared by the LSP benches: per-bench tallies of timed transfers, rate lines, and
 * memory figures measured after a forced garbage collection.
 *
 * @module
 */
import v8 from "node:v8";
import vm from "node:vm";

/** One timed transfer. */
export interface Sample {
  /** Messages moved. */
  messages: number;
  /** Milliseconds it took. */
  ms: number;
  /** Data retransmissions it needed. */
  retransmitted: number;
}

/** Samples of one bench, summarised by the median. */
export interface Tally {
  /** Records one sample. */
  add(sample: Sample): void;
  /** The sample with the median messages/s, or `undefined` before the first. */
  median(): Sample | undefined;
  /** Retransmissions over all samples. */
  readonly retransmitted: number;
  /** Number of samples. */
  readonly count: number;
}

/**
 * Makes an empty {@linkcode Tally}.
 *
 * @example
 * ```ts
 * import { tally } from "./_report.ts";
 * const t = tally();
 * t.add({ messages: 10, ms: 5, retransmitted: 0 });
 * console.assert(t.median()?.ms === 5);
 * ```
 */
export function tally(): Tally {
  const samples: Sample[] = [];
  return {
    add(sample) {
      samples.push(sample);
    },
    median() {
      if (samples.length === 0) return undefined;
      const sorted = [...samples].sort((a, b) => a.messages / a.ms - b.messages / b.ms);
      return sorted[Math.floor(sorted.length / 2)];
    },
    get retransmitted() {
      return samples.reduce((sum, s) => sum + s.retransmitted, 0);
    },
    get count() {
      return samples.length;
    },
  };
}

/**
 * One report line: messages/s and MB/s (10^6 payload bytes) of the median sample, and its
 * ratio to `base` when given.
 *
 * @example
 * ```ts
 * import { formatRate, tally } from "./_report.ts";
 * const t = tally();
 * t.add({ messages: 1000, ms: 100, retransmitted: 0 });
 * console.assert(formatRate("x", t, 1000).includes("10000 msg/s"));
 * ```
 */
export function formatRate(
  name: string,
  t: Tally,
  payloadBytes: number,
  base?: Sample,
): string {
  const m = t.median();
  if (!m) return `  ${name.padEnd(22)} no samples`;
  const perSecond = m.messages / (m.ms / 1000);
  const mbPerSecond = perSecond * payloadBytes / 1e6;
  const ratio = base ? `  ${(perSecond / (base.messages / (base.ms / 1000))).toFixed(3)}x raw` : "";
  const again = t.retransmitted ? `  (${t.retransmitted} retransmissions in ${t.count} runs)` : "";
  return `  ${name.padEnd(22)} ${perSecond.toFixed(0).padStart(7)} msg/s ` +
    `${mbPerSecond.toFixed(2).padStart(7)} MB/s${ratio}${again}`;
}

v8.setFlagsFromString("--expose-gc");
const gc = vm.runInNewContext("gc") as () => void;

/** Memory figures of this process, in bytes. */
export interface MemoryFigures {
  rss: number;
  heapUsed: number;
  external: number;
}

/**
 * Forces full garbage collections (V8's `gc`, enabled at run time through `node:v8`, so no
 * `--v8-flags` is needed) and returns `Deno.memoryUsage()`'s figures.
 *
 * @example
 * ```ts
 * import { memoryAfterGc } from "./_report.ts";
 * console.assert(memoryAfterGc().heapUsed > 0);
 * ```
 */
export function memoryAfterGc(): MemoryFigures {
  for (let i = 0; i < 3; i++) gc();
  const { rss, heapUsed, external } = Deno.memoryUsage();
  return { rss, heapUsed, external };
}
