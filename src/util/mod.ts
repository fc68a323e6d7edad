/**
 * The public entry of `src/util/`: what other folders may import from it.
 *
 * @module
 */

export { assert, AssertionError, unreachable } from "./assert.ts";
export { checkInt, checkTime } from "./checks.ts";
export { formatDuration } from "./duration.ts";
export { prngFromEntropy } from "./entropy_deno.ts";
export {
  endOfJsonValue,
  GO_MAX_NESTING_DEPTH,
  goFieldMatcher,
  jsonStringText,
  scanGoObject,
  skipJsonSpace,
} from "./go_json.ts";
export {
  LOG_FORMATS,
  LOG_LEVELS,
  type LogFormat,
  type Logger,
  type LogLevel,
  serviceLogger,
  setupLogging,
} from "./log_deno.ts";
export { type Prng } from "./prng.ts";
export { sipHash24, utf8 } from "./siphash.ts";
export { Slab, type SlabOptions } from "./slab.ts";
