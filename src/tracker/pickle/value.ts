/**
 * The typed value model of the pickle codec (spec §5.5): how each Python value decodes into
 * TypeScript and what the encoders accept.
 *
 * | Python                | TypeScript                                    | {@linkcode pyTypeOf} |
 * |-----------------------|-----------------------------------------------|----------------------|
 * | `None`                | `null`                                        | `"none"`             |
 * | `bool`                | `boolean`                                     | `"bool"`             |
 * | `int` / py2 `long`    | `number` when `Number.isSafeInteger`, else `bigint` | `"int"`        |
 * | `float`               | {@linkcode PyFloat} (a plain `number` is an int) | `"float"`         |
 * | text (py3 `str`, py2 `unicode`) | `string`                            | `"str"`              |
 * | py2 `str` (STRING, BINSTRING, SHORT_BINSTRING) | {@linkcode Py2Str} (raw bytes; `.text` is Latin-1) | `"py2str"` |
 * | `bytes`               | `Uint8Array`                                  | `"bytes"`            |
 * | `bytearray`           | {@linkcode PyByteArray}                       | `"bytearray"`        |
 * | `tuple`               | {@linkcode PyTuple} (frozen items)            | `"tuple"`            |
 * | `list`                | `PyValue[]`                                   | `"list"`             |
 * | `dict`                | {@linkcode PyDict} (a `Map` with Python key equality) | `"dict"`     |
 * | `set` / `frozenset`   | {@linkcode PySet} (a `Set`; `frozen` flag)    | `"set"` / `"frozenset"` |
 *
 * Integers are normalised: a decoded int is a `number` exactly when it is a safe integer, so
 * `5` never arrives as `5n`. Py2 str keeps its bytes because the tracker must re-send a handle
 * with the kind it arrived in (spec §3.2); compare command words through {@linkcode pyText}.
 *
 * Dict keys and set members follow Python's equality: `1`, `1.0` ({@linkcode PyFloat}) and `true`
 * are one key; an ASCII `Py2Str` equals the `string` with the same characters (Python 2, and
 * Python 3's default loading, see them as equal); tuples and frozensets compare by content;
 * lists, dicts, sets and bytearrays are unhashable. Lists and dicts may be shared or cyclic (the
 * memo makes aliases): walk decoded values with a visited set.
 *
 * @module
 */

import { isAsciiBytes, latin1Decode, latin1Encode } from "./_text.ts";

/**
 * A Python `float`. Wrapped so that `3.0` stays a float when re-encoded (a plain `number` is an int).
 *
 * @example
 * ```ts
 * import { PyFloat } from "./value.ts";
 * import assert from "node:assert/strict";
 * assert.equal(new PyFloat(3.25).value, 3.25);
 * ```
 */
export class PyFloat {
  /** The IEEE-754 double. */
  readonly value: number;

  /**
   * Wraps a double.
   *
   * @param value Any number, including `NaN`, the infinities and `-0`.
   * @throws {TypeError} When `value` is not a number.
   */
  constructor(value: number) {
    if (typeof value !== "number") throw new TypeError("Cannot make a PyFloat: not a number");
    this.value = value;
  }
}

/**
 * A Python 2 byte string (`str`), as the STRING, BINSTRING and SHORT_BINSTRING opcodes carry it.
 * The bytes are not copied; treat them as immutable.
 *
 * @example A command word
 * ```ts
 * import { Py2Str } from "./value.ts";
 * import assert from "node:assert/strict";
 * const word = Py2Str.fromText("REG_INIT");
 * assert.equal(word.text, "REG_INIT");
 * assert.equal(word.bytes.length, 8);
 * ```
 */
export class Py2Str {
  /** The raw bytes. */
  readonly bytes: Uint8Array;

  /**
   * Wraps bytes.
   *
   * @param bytes The string's bytes (kept, not copied).
   * @throws {TypeError} When `bytes` is not a `Uint8Array`.
   */
  constructor(bytes: Uint8Array) {
    if (!(bytes instanceof Uint8Array)) throw new TypeError("Cannot make a Py2Str: not bytes");
    this.bytes = bytes;
  }

  /**
   * Builds a py2 str from text whose characters are all U+0000..U+00FF (Latin-1).
   *
   * @param text The characters.
   * @returns The py2 str with byte i = code unit i.
   * @throws {RangeError} When a character is above U+00FF.
   *
   * @example
   * ```ts
   * import { Py2Str } from "./value.ts";
   * import assert from "node:assert/strict";
   * assert.equal(Py2Str.fromText("caf\u00e9").bytes[3], 0xe9);
   * ```
   */
  static fromText(text: string): Py2Str {
    const bytes = latin1Encode(text);
    if (bytes === undefined) {
      throw new RangeError("Cannot make a Py2Str: a character is above U+00FF");
    }
    return new Py2Str(bytes);
  }

  /** The bytes decoded as Latin-1 (lossless, never fails). */
  get text(): string {
    return latin1Decode(this.bytes);
  }

  /** True when every byte is ASCII (then Python 2 and 3 treat it as equal to the same text). */
  get isAscii(): boolean {
    return isAsciiBytes(this.bytes);
  }

  /** Returns {@linkcode Py2Str.text}. */
  toString(): string {
    return this.text;
  }
}

/**
 * A Python `bytearray` (only BYTEARRAY8, protocol 5, makes one without a call).
 *
 * @example
 * ```ts
 * import { PyByteArray } from "./value.ts";
 * import assert from "node:assert/strict";
 * assert.equal(new PyByteArray(Uint8Array.of(97, 98)).bytes.length, 2);
 * ```
 */
export class PyByteArray {
  /** The bytes (kept, not copied). */
  readonly bytes: Uint8Array;

  /**
   * Wraps bytes.
   *
   * @param bytes The contents.
   * @throws {TypeError} When `bytes` is not a `Uint8Array`.
   */
  constructor(bytes: Uint8Array) {
    if (!(bytes instanceof Uint8Array)) throw new TypeError("Cannot make a PyByteArray: not bytes");
    this.bytes = bytes;
  }
}

/**
 * A Python `tuple`: an immutable sequence, kept apart from lists so that it re-encodes as a tuple.
 *
 * @example The item reply of Part 1
 * ```ts
 * import { Py2Str, PyTuple } from "./value.ts";
 * import assert from "node:assert/strict";
 * const reply = PyTuple.of(12, Py2Str.fromText("of"));
 * assert.equal(reply.length, 2);
 * assert.equal(reply.items[0], 12);
 * ```
 */
export class PyTuple implements Iterable<PyValue> {
  /** The items, frozen. */
  readonly items: readonly PyValue[];

  /**
   * Builds a tuple from a copy of `items`.
   *
   * @param items The elements.
   */
  constructor(items: Iterable<PyValue>) {
    this.items = Object.freeze(Array.isArray(items) ? items.slice() : Array.from(items));
  }

  /**
   * Builds a tuple from its arguments.
   *
   * @example
   * ```ts
   * import { PyTuple } from "./value.ts";
   * import assert from "node:assert/strict";
   * assert.equal(PyTuple.of().length, 0);
   * ```
   */
  static of(...items: PyValue[]): PyTuple {
    return new PyTuple(items);
  }

  /** The number of items. */
  get length(): number {
    return this.items.length;
  }

  /** Iterates over the items. */
  [Symbol.iterator](): Iterator<PyValue> {
    return this.items[Symbol.iterator]();
  }
}

/**
 * A Python value as the codec sees it; see the module documentation for the mapping.
 */
export type PyValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | PyFloat
  | Py2Str
  | Uint8Array
  | PyByteArray
  | PyTuple
  | PyValue[]
  | PyDict
  | PySet;

/**
 * The Python type of a {@linkcode PyValue}, as returned by {@linkcode pyTypeOf}.
 */
export type PyTypeName =
  | "none"
  | "bool"
  | "int"
  | "float"
  | "str"
  | "py2str"
  | "bytes"
  | "bytearray"
  | "tuple"
  | "list"
  | "dict"
  | "set"
  | "frozenset";

/**
 * Names the Python type of a value: the discriminant of the value model.
 *
 * @param value A value of the model.
 * @returns Its type name.
 * @throws {TypeError} When `value` is not part of the model (e.g. `undefined`, a fraction as a
 * plain `number`, a plain object).
 *
 * @example
 * ```ts
 * import { Py2Str, pyTypeOf, PyTuple } from "./value.ts";
 * import assert from "node:assert/strict";
 * assert.equal(pyTypeOf(PyTuple.of()), "tuple");
 * assert.equal(pyTypeOf(Py2Str.fromText("a")), "py2str");
 * assert.equal(pyTypeOf(2n ** 64n), "int");
 * ```
 */
export function pyTypeOf(value: PyValue): PyTypeName {
  if (value === null) return "none";
  switch (typeof value) {
    case "boolean":
      return "bool";
    case "bigint":
      return "int";
    case "string":
      return "str";
    case "number":
      if (Number.isInteger(value)) return "int";
      break;
    case "object":
      if (Array.isArray(value)) return "list";
      if (value instanceof PyTuple) return "tuple";
      if (value instanceof Py2Str) return "py2str";
      if (value instanceof PyFloat) return "float";
      if (value instanceof Uint8Array) return "bytes";
      if (value instanceof PyDict) return "dict";
      if (value instanceof PySet) return value.frozen ? "frozenset" : "set";
      if (value instanceof PyByteArray) return "bytearray";
      break;
  }
  throw new TypeError(`Cannot classify a value: ${typeof value} is not in the pickle value model`);
}

/**
 * Reads a Python string of either kind as text: a `string` as is, a {@linkcode Py2Str} as Latin-1.
 * This is how the tracker compares command words (spec §5.6).
 *
 * @param value Any value.
 * @returns The text, or `undefined` when `value` is not a string.
 *
 * @example
 * ```ts
 * import { Py2Str, pyText } from "./value.ts";
 * import assert from "node:assert/strict";
 * assert.equal(pyText(Py2Str.fromText("QUERY")), "QUERY");
 * assert.equal(pyText("QUERY"), "QUERY");
 * assert.equal(pyText(5), undefined);
 * ```
 */
export function pyText(value: PyValue): string | undefined {
  if (typeof value === "string") return value;
  if (value instanceof Py2Str) return value.text;
  return undefined;
}

/** Hashable keys nest at most this deep; deeper keys are local misuse (the decoder stays below). */
const MAX_KEY_NESTING = 1000;

/**
 * Gives equal hashable values the same number, following Python's equality (see the module
 * documentation). {@linkcode PyDict} and {@linkcode PySet} use one to find keys; containers that
 * share one hash a shared key once, which is what the decoder does.
 *
 * Immutable key objects (tuples, frozensets, py2 strs, bytes, floats) are remembered by identity:
 * do not mutate the bytes of a key after using it.
 *
 * @example
 * ```ts
 * import { KeyInterner, PyFloat } from "./value.ts";
 * import assert from "node:assert/strict";
 * const keys = new KeyInterner();
 * assert.equal(keys.intern(1), keys.intern(new PyFloat(1)));
 * assert.equal(keys.intern(true), keys.intern(1));
 * assert.equal(keys.intern([]), undefined); // a list is unhashable
 * ```
 */
export class KeyInterner {
  #ids = new Map<string, number>();
  #texts = new Map<string, number>();
  #objects = new WeakMap<object, number>();
  #next = 0;

  /**
   * Returns the id of `value`, assigning a new one when no equal value has one yet.
   *
   * @param value A value.
   * @returns Its id, or `undefined` when the value is unhashable.
   * @throws {RangeError} When tuples and frozensets nest more than 1000 deep.
   */
  intern(value: PyValue): number | undefined {
    return this.#id(value, true, 0);
  }

  /**
   * Returns the id of `value` if an equal value was interned, without assigning one.
   *
   * @param value A value.
   * @returns Its id, or `undefined` when it is unknown or unhashable.
   * @throws {RangeError} When tuples and frozensets nest more than 1000 deep.
   */
  find(value: PyValue): number | undefined {
    return this.#id(value, false, 0);
  }

  #fromMap(map: Map<string, number>, key: string, create: boolean): number | undefined {
    let id = map.get(key);
    if (id === undefined && create) map.set(key, id = this.#next++);
    return id;
  }

  #number(x: number, create: boolean): number | undefined {
    if (Number.isNaN(x)) return create ? this.#next++ : undefined; // NaN equals only itself
    if (Number.isInteger(x)) {
      const digits = Number.isSafeInteger(x) ? String(x) : BigInt(x).toString();
      return this.#fromMap(this.#ids, "i" + digits, create);
    }
    return this.#fromMap(this.#ids, "f" + String(x), create);
  }

  #id(value: PyValue, create: boolean, depth: number): number | undefined {
    if (value === null) return this.#fromMap(this.#ids, "N", create);
    switch (typeof value) {
      case "boolean":
        return this.#fromMap(this.#ids, value ? "i1" : "i0", create);
      case "number":
        return this.#number(value, create);
      case "bigint":
        return this.#fromMap(this.#ids, "i" + value.toString(), create);
      case "string":
        return this.#fromMap(this.#texts, value, create);
    }
    const known = this.#objects.get(value);
    if (known !== undefined) return known;
    let id: number | undefined;
    if (value instanceof PyTuple || (value instanceof PySet && value.frozen)) {
      if (depth >= MAX_KEY_NESTING) {
        throw new RangeError(`Cannot hash a key: nested deeper than ${MAX_KEY_NESTING}`);
      }
      const ids: number[] = [];
      for (const item of value) {
        const itemId = this.#id(item, create, depth + 1);
        if (itemId === undefined) return undefined;
        ids.push(itemId);
      }
      if (value instanceof PyTuple) {
        id = this.#fromMap(this.#ids, "t" + ids.join(","), create);
      } else {
        id = this.#fromMap(this.#ids, "F" + ids.sort((a, b) => a - b).join(","), create);
      }
    } else if (value instanceof Py2Str) {
      id = value.isAscii
        ? this.#fromMap(this.#texts, value.text, create)
        : this.#fromMap(this.#ids, "y" + value.text, create);
    } else if (value instanceof PyFloat) {
      id = this.#number(value.value, create);
    } else if (value instanceof Uint8Array) {
      id = this.#fromMap(this.#ids, "b" + latin1Decode(value), create);
    } else {
      return undefined; // list, dict, set, bytearray: unhashable
    }
    if (id !== undefined) this.#objects.set(value, id);
    return id;
  }
}

/**
 * Options of {@linkcode PyDict} and {@linkcode PySet}.
 *
 * @example Two dicts sharing a key table
 * ```ts
 * import { KeyInterner, PyDict, type PyContainerOptions } from "./value.ts";
 * import assert from "node:assert/strict";
 * const options: PyContainerOptions = { keys: new KeyInterner() };
 * const a = new PyDict([["k", 1]], options), b = new PyDict([["k", 2]], options);
 * assert.equal(a.get("k"), 1);
 * assert.equal(b.get("k"), 2);
 * ```
 */
export interface PyContainerOptions {
  /**
   * The key table to use; share one between containers to hash shared keys once.
   *
   * @default a new {@linkcode KeyInterner}
   */
  keys?: KeyInterner;
}

/**
 * A Python `dict`: a `Map` in insertion order whose keys follow Python's equality, so `get(1)`
 * finds the key `true` and `get("a")` finds an ASCII `Py2Str` key `a`. Setting an equal key keeps
 * the first key object and replaces the value, like Python.
 *
 * @example A dict with non-string keys
 * ```ts
 * import { PyDict, PyFloat, PyTuple } from "./value.ts";
 * import assert from "node:assert/strict";
 * const d = new PyDict([[PyTuple.of(1, 2), "pair"], [1, "one"]]);
 * d.set(new PyFloat(1), "uno");
 * assert.equal(d.size, 2);
 * assert.equal(d.get(true), "uno");
 * assert.equal(d.get(PyTuple.of(1, 2)), "pair");
 * ```
 */
export class PyDict extends Map<PyValue, PyValue> {
  #keys: KeyInterner;
  #byId = new Map<number, PyValue>();

  /**
   * Builds a dict.
   *
   * @param entries Initial key/value pairs, set in order.
   * @param options The key table.
   * @throws {TypeError} When a key is unhashable.
   */
  constructor(
    entries?: Iterable<readonly [PyValue, PyValue]> | null,
    options: PyContainerOptions = {},
  ) {
    super();
    this.#keys = options.keys ?? new KeyInterner();
    if (entries) { for (const [k, v] of entries) this.set(k, v); }
  }

  /**
   * Sets `key` to `value`.
   *
   * @throws {TypeError} When `key` is unhashable (a list, dict, set or bytearray, or a tuple
   * holding one).
   */
  override set(key: PyValue, value: PyValue): this {
    const id = this.#keys.intern(key);
    if (id === undefined) {
      throw new TypeError(`Cannot use an unhashable ${pyTypeOf(key)} as a dict key`);
    }
    if (this.#byId.has(id)) {
      super.set(this.#byId.get(id)!, value);
    } else {
      this.#byId.set(id, key);
      super.set(key, value);
    }
    return this;
  }

  /** Returns the value of the key equal to `key`, or `undefined`. */
  override get(key: PyValue): PyValue | undefined {
    const id = this.#keys.find(key);
    return id === undefined || !this.#byId.has(id) ? undefined : super.get(this.#byId.get(id)!);
  }

  /** True when a key equal to `key` is present. */
  override has(key: PyValue): boolean {
    const id = this.#keys.find(key);
    return id !== undefined && this.#byId.has(id);
  }

  /** Removes the key equal to `key`; true if there was one. */
  override delete(key: PyValue): boolean {
    const id = this.#keys.find(key);
    if (id === undefined || !this.#byId.has(id)) return false;
    const stored = this.#byId.get(id)!;
    this.#byId.delete(id);
    return super.delete(stored);
  }

  /** Removes every entry. */
  override clear(): void {
    this.#byId.clear();
    super.clear();
  }
}

/**
 * A Python `set` or, when `frozen`, a `frozenset`: a `Set` in insertion order whose members follow
 * Python's equality (see {@linkcode PyDict}). A frozen set refuses changes and is hashable.
 *
 * @example
 * ```ts
 * import { PyFloat, PySet } from "./value.ts";
 * import assert from "node:assert/strict";
 * const s = new PySet([1, new PyFloat(1), true, "a"]);
 * assert.equal(s.size, 2);
 * assert.ok(s.has(1));
 * assert.equal(s.frozen, false);
 * const f = new PySet(["x"], { frozen: true });
 * assert.ok(f.frozen);
 * assert.ok(f.has("x"));
 * ```
 */
export class PySet extends Set<PyValue> {
  #keys: KeyInterner;
  #byId = new Map<number, PyValue>();
  #frozen = false;

  /**
   * Builds a set.
   *
   * @param members Initial members, added in order.
   * @param options The key table, and `frozen` (default `false`) for a frozenset.
   * @throws {TypeError} When a member is unhashable.
   */
  constructor(
    members?: Iterable<PyValue> | null,
    options: PyContainerOptions & { frozen?: boolean } = {},
  ) {
    super();
    this.#keys = options.keys ?? new KeyInterner();
    if (members) { for (const m of members) this.add(m); }
    this.#frozen = options.frozen ?? false;
  }

  /** True for a frozenset. */
  get frozen(): boolean {
    return this.#frozen;
  }

  /**
   * Adds `value` unless an equal member is present.
   *
   * @throws {TypeError} When the set is frozen or `value` is unhashable.
   */
  override add(value: PyValue): this {
    if (this.#frozen) throw new TypeError("Cannot add to a frozenset");
    const id = this.#keys.intern(value);
    if (id === undefined) {
      throw new TypeError(`Cannot add an unhashable ${pyTypeOf(value)} to a set`);
    }
    if (!this.#byId.has(id)) {
      this.#byId.set(id, value);
      super.add(value);
    }
    return this;
  }

  /** True when a member equal to `value` is present. */
  override has(value: PyValue): boolean {
    const id = this.#keys.find(value);
    return id !== undefined && this.#byId.has(id);
  }

  /**
   * Removes the member equal to `value`; true if there was one.
   *
   * @throws {TypeError} When the set is frozen.
   */
  override delete(value: PyValue): boolean {
    if (this.#frozen) throw new TypeError("Cannot remove from a frozenset");
    const id = this.#keys.find(value);
    if (id === undefined || !this.#byId.has(id)) return false;
    const stored = this.#byId.get(id)!;
    this.#byId.delete(id);
    return super.delete(stored);
  }

  /**
   * Removes every member.
   *
   * @throws {TypeError} When the set is frozen.
   */
  override clear(): void {
    if (this.#frozen) throw new TypeError("Cannot clear a frozenset");
    this.#byId.clear();
    super.clear();
  }
}
