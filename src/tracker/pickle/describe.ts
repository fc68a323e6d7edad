/**
 * A safe walker for decoded values: {@linkcode describePyValue} turns a value (which may share
 * and nest containers, or contain itself) into a plain, JSON-serialisable, type-tagged tree, for
 * logs, comparisons and tests. It keeps the visited set and node budget spec §5.8 asks of any code
 * that walks a decoded value.
 *
 * @module
 */

import { pyFloatRepr } from "./_text.ts";
import { Py2Str, PyByteArray, PyDict, PyFloat, PySet, PyTuple, type PyValue } from "./value.ts";

/**
 * The description of a value: a tagged array.
 *
 * | Value                 | Description                                        |
 * |-----------------------|----------------------------------------------------|
 * | `None`                | `["none"]`                                         |
 * | `bool`                | `["bool", true]`                                   |
 * | int                   | `["int", "-12"]` (decimal)                         |
 * | float                 | `["float", "3.25"]` (Python's `repr`)              |
 * | text                  | `["str", "héllo"]`                                 |
 * | py2 str / bytes / bytearray | `["py2str", hex]` / `["bytes", hex]` / `["bytearray", hex]` |
 * | tuple / list          | `["tuple", [items]]` / `["list", [items]]`         |
 * | dict                  | `["dict", [[key, value], ...]]` in insertion order |
 * | set / frozenset       | `["set", [members]]` / `["frozenset", [members]]`, members sorted by their JSON |
 * | a list, dict, set or bytearray seen before | `["ref", n]`: the n-th (from 0) of those met in pre-order |
 *
 * Tuples and immutable values are described in full wherever they appear; mutable containers
 * once, so shared lists stay visibly shared and cycles end.
 */
export type PyDescription =
  | readonly ["none"]
  | readonly ["bool", boolean]
  | readonly ["int" | "float" | "str" | "py2str" | "bytes" | "bytearray", string]
  | readonly ["tuple" | "list" | "set" | "frozenset", readonly PyDescription[]]
  | readonly ["dict", readonly (readonly [PyDescription, PyDescription])[]]
  | readonly ["ref", number];

/**
 * Options of {@linkcode describePyValue}.
 */
export interface DescribePyValueOptions {
  /**
   * Nodes the description may hold; shared tuples repeated through the memo can describe an
   * exponentially large tree with a small input, and this bounds it.
   *
   * @default 100000
   */
  maxNodes?: number;
  /**
   * Deepest nesting walked.
   *
   * @default 1000
   */
  maxDepth?: number;
}

function hex(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}

/**
 * Describes a value as a type-tagged tree (see {@linkcode PyDescription}).
 *
 * @param value Any value of the model.
 * @param options Bounds on the walk.
 * @returns The description; `JSON.stringify` gives a stable text form.
 * @throws {RangeError} When the description would exceed `maxNodes` or `maxDepth`.
 * @throws {TypeError} When the value is outside the model.
 *
 * @example A list that contains itself
 * ```ts
 * import { describePyValue } from "./describe.ts";
 * import assert from "node:assert/strict";
 * const l: unknown[] = [];
 * l.push(l);
 * assert.equal(JSON.stringify(describePyValue(l as never)), '["list",[["ref",0]]]');
 * ```
 */
export function describePyValue(
  value: PyValue,
  options: DescribePyValueOptions = {},
): PyDescription {
  const { maxNodes = 100_000, maxDepth = 1000 } = options;
  const seen = new Map<object, number>();
  let nodes = 0;
  const walk = (v: PyValue, depth: number): PyDescription => {
    if (++nodes > maxNodes) {
      throw new RangeError(`Cannot describe the value: more than ${maxNodes} nodes`);
    }
    if (depth > maxDepth) {
      throw new RangeError(`Cannot describe the value: nested deeper than ${maxDepth}`);
    }
    if (v === null) return ["none"];
    switch (typeof v) {
      case "boolean":
        return ["bool", v];
      case "bigint":
        return ["int", v.toString()];
      case "string":
        return ["str", v];
      case "number":
        if (Number.isInteger(v)) return ["int", BigInt(v).toString()];
        throw new TypeError(`Cannot describe the number ${v}: not an integer (use PyFloat)`);
    }
    if (v instanceof PyFloat) return ["float", pyFloatRepr(v.value)];
    if (v instanceof Py2Str) return ["py2str", hex(v.bytes)];
    if (v instanceof Uint8Array) return ["bytes", hex(v)];
    if (v instanceof PyTuple) return ["tuple", v.items.map((x) => walk(x, depth + 1))];
    if (v instanceof PySet && v.frozen) return ["frozenset", sorted(v, depth)];
    const isMutable = Array.isArray(v) || v instanceof PyDict || v instanceof PySet ||
      v instanceof PyByteArray;
    if (!isMutable) throw new TypeError("Cannot describe a value outside the pickle value model");
    const ref = seen.get(v);
    if (ref !== undefined) return ["ref", ref];
    seen.set(v, seen.size);
    if (Array.isArray(v)) return ["list", v.map((x) => walk(x, depth + 1))];
    if (v instanceof PyDict) {
      return ["dict", [...v].map(([k, x]) => [walk(k, depth + 1), walk(x, depth + 1)] as const)];
    }
    if (v instanceof PySet) return ["set", sorted(v, depth)];
    return ["bytearray", hex(v.bytes)];
  };
  const sorted = (members: Iterable<PyValue>, depth: number): PyDescription[] =>
    [...members].map((m) => walk(m, depth + 1)).map((d) => [JSON.stringify(d), d] as const)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, d]) => d);
  return walk(value, 0);
}
