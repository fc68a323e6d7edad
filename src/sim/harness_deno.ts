/**
 * Test infrastructure for seeded simulations: which seeds to run (from `SIM_SEED` / `SIM_RUNS`),
 * how to tell a reader to replay a failure, and random "swarm" link options drawn from a seed.
 * This is the only file in `src/sim` that reads the environment.
 *
 * @module
 */

import { prngFromEntropy } from "../util/mod.ts";
import type { Prng } from "../util/mod.ts";
import type { LinkOptions } from "./links.ts";

/**
 * Reads an environment variable; `undefined` when unset or not permitted.
 *
 * @example A fake environment for tests
 * ```ts
 * import { type EnvReader, simSeeds } from "./harness_deno.ts";
 * import assert from "node:assert/strict";
 * const env: EnvReader = (name) => (name === "SIM_SEED" ? "9" : undefined);
 * assert.equal(simSeeds([1, 2], env).join(), "9");
 * ```
 */
export type EnvReader = (name: string) => string | undefined;

/**
 * Reads `name` with `Deno.env.get`, returning `undefined` when it is unset, when the permission is
 * missing, or outside Deno.
 *
 * @example Reading a variable
 * ```ts
 * import { readEnv } from "./harness_deno.ts";
 * import assert from "node:assert/strict";
 * Deno.env.set("SIM_DOC_EXAMPLE", "7");
 * assert.equal(readEnv("SIM_DOC_EXAMPLE"), "7");
 * ```
 */
export function readEnv(name: string): string | undefined {
  try {
    // Query first: a bare get() would prompt for the permission in an interactive terminal.
    const status = Deno.permissions.querySync({ name: "env", variable: name });
    return status.state === "granted" ? Deno.env.get(name) : undefined;
  } catch {
    return undefined;
  }
}

function parseCount(name: string, text: string, max: number): number {
  const trimmed = text.trim();
  const n = /^\d+$/.test(trimmed) ? Number(trimmed) : NaN;
  if (!Number.isSafeInteger(n) || n > max) {
    throw new RangeError(`Cannot read ${name}: "${text}" is not an integer in [0, ${max}]`);
  }
  return n;
}

/**
 * The seeds a seeded test should run: just `SIM_SEED` when it is set (replaying a failure);
 * otherwise `SIM_RUNS` fresh random seeds when that is set (swarm testing); otherwise `defaults`.
 *
 * @param defaults The fixed seeds to run normally.
 * @param env Where to read variables (for tests of this function).
 * @throws {RangeError} When `SIM_SEED` or `SIM_RUNS` is not a non-negative integer.
 * @example One test per seed
 * ```ts
 * import { replayHint, simSeeds } from "./harness_deno.ts";
 * import assert from "node:assert/strict";
 * const seeds = simSeeds([1, 2, 3], () => undefined);
 * assert.equal(seeds.join(), "1,2,3");
 * assert.ok(replayHint(2).startsWith("replay: SIM_SEED=2 "));
 * ```
 */
export function simSeeds(defaults: readonly number[], env: EnvReader = readEnv): number[] {
  const seed = env("SIM_SEED");
  if (seed !== undefined && seed.trim() !== "") {
    return [parseCount("SIM_SEED", seed, Number.MAX_SAFE_INTEGER)];
  }
  const runs = env("SIM_RUNS");
  if (runs !== undefined && runs.trim() !== "") {
    const n = parseCount("SIM_RUNS", runs, 10_000_000);
    const prng = prngFromEntropy();
    return Array.from({ length: n }, () => prng.u32());
  }
  return [...defaults];
}

/**
 * A line for assertion messages telling how to replay `seed`.
 *
 * @param command The command to replay with (name the test file to keep it short).
 * @example A hint naming the file
 * ```ts
 * import { replayHint } from "./harness_deno.ts";
 * import assert from "node:assert/strict";
 * const hint = replayHint(42, "deno test -A tests/lsp/sim_test.ts");
 * assert.equal(hint, "replay: SIM_SEED=42 deno test -A tests/lsp/sim_test.ts");
 * ```
 */
export function replayHint(seed: number, command = "deno task test"): string {
  return `replay: SIM_SEED=${seed} ${command}`;
}

/**
 * Bounds for {@linkcode swarmLinkOptions}.
 */
export interface SwarmLimits {
  /**
   * Highest loss rate drawn.
   *
   * @default {0.3}
   */
  dropRateMax?: number;
  /**
   * Highest duplication rate drawn.
   *
   * @default {0.1}
   */
  dupRateMax?: number;
  /**
   * Highest corruption rate drawn (0 for protocols without integrity checks).
   *
   * @default {0.05}
   */
  corruptRateMax?: number;
  /**
   * Highest one-way delay drawn, in ms.
   *
   * @default {200}
   */
  delayMsMax?: number;
}

/**
 * Draws link options for one swarm run (TigerBeetle style): each fault is often off, sometimes
 * mild, sometimes up to its maximum, so that many seeds cover many network shapes.
 *
 * @example Options from a seed
 * ```ts
 * import { swarmLinkOptions } from "./harness_deno.ts";
 * import { Prng } from "../util/prng.ts";
 * import assert from "node:assert/strict";
 * const options = swarmLinkOptions(Prng.seeded(5), { corruptRateMax: 0 });
 * assert.equal(options.corruptRate, 0);
 * assert.ok(options.delayMs![0] <= options.delayMs![1]);
 * ```
 */
export function swarmLinkOptions(prng: Prng, limits: SwarmLimits = {}): LinkOptions {
  const { dropRateMax = 0.3, dupRateMax = 0.1, corruptRateMax = 0.05, delayMsMax = 200 } = limits;
  const rate = (max: number) => {
    const mode = prng.int(0, 3); // off, off, mild, anything up to max
    return mode < 2 ? 0 : mode === 2 ? prng.float() * max * 0.2 : prng.float() * max;
  };
  const a = prng.float() * delayMsMax, b = prng.float() * delayMsMax;
  const delayMs: [number, number] = prng.chance(0.25) ? [a, a] : [Math.min(a, b), Math.max(a, b)];
  return {
    dropRate: rate(dropRateMax),
    dupRate: rate(dupRateMax),
    corruptRate: rate(corruptRateMax),
    delayMs,
    chunkBytesMax: prng.pick([1, 7, 64, 1460]),
  };
}
