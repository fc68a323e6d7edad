/**
 * The program's version, taken from `deno.json` so there is one place to change it.
 *
 * @module
 */
import config from "../deno.json" with { type: "json" };

/**
 * The version string, such as `0.1.0`.
 *
 * @example
 * ```ts
 * import { VERSION } from "./version.ts";
 * import assert from "node:assert/strict";
 * assert.match(VERSION, /^\d+\.\d+\.\d+/);
 * ```
 */
export const VERSION: string = config.version;
