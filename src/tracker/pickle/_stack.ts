/**
 * Package-private machine state of the pickle decoder (`decode.ts`): the stack and its MARKs,
 * the memo, and the containers being built with their bounds (sizes, total items, tracked
 * heights, the final depth walk). Failures go through the {@linkcode PickleInput} they read from.
 *
 * @module
 */

import type { PickleInput } from "./_input.ts";
import { KeyInterner, PyDict, PySet, PyTuple, pyTypeOf, type PyValue } from "./value.ts";

/** The value GLOBAL `_codecs encode` pushes under the §5.9 extension; never leaves the decoder. */
export const CODECS_ENCODE: unique symbol = Symbol("_codecs.encode");
/** A stack entry: a value, or the §5.9 marker. */
export type Item = PyValue | typeof CODECS_ENCODE;

/** The direct children of a container, or `undefined` for a scalar. */
function childrenOf(value: PyValue): readonly PyValue[] | undefined {
  if (Array.isArray(value)) return value;
  if (value instanceof PyTuple) return value.items;
  if (value instanceof PyDict) {
    const out: PyValue[] = [];
    for (const [k, v] of value) out.push(k, v);
    return out;
  }
  if (value instanceof PySet) return [...value];
  return undefined;
}

/**
 * The decoder's stack, MARKs and memo, and the container operations over them, each bounded by
 * the options of the input it reports failures through.
 *
 * @example Building a tuple from a MARK, then underflowing
 * ```ts
 * import { Failure, PickleInput } from "./_input.ts";
 * import { PickleStack } from "./_stack.ts";
 * import { DEFAULT_DECODE_LIMITS } from "./decode.ts";
 * import { PyTuple } from "./value.ts";
 * import assert from "node:assert/strict";
 * const options = { ...DEFAULT_DECODE_LIMITS, maxProtocol: 5, allowCodecsEncode: false };
 * const st = new PickleStack(new PickleInput(new Uint8Array(0), options));
 * st.marks.push(st.stack.length);
 * st.push(1);
 * st.push(2);
 * const tuple = st.tuple(st.popMark());
 * assert.ok(tuple instanceof PyTuple);
 * assert.deepEqual(tuple.items, [1, 2]);
 * assert.throws(() => st.pop(), (e) => e instanceof Failure && e.error.kind === "malformed");
 * ```
 */
export class PickleStack {
  readonly #in: PickleInput;
  /** The stack. */
  stack: Item[] = [];
  /** The stack heights at each open MARK. */
  marks: number[] = [];
  /** Keyed as Python 2's `pickle.py` keys it: by the PUT line, or the decimal of an index. */
  memo = new Map<string, Item>();
  /** Items put in containers so far (`maxTotalItems`). */
  items = 0;
  /** The tracked height of each container built. */
  heights = new Map<object, number>();
  /** The hashing table shared by the dicts and sets built, made on first use. */
  keyTable: KeyInterner | undefined;
  /** Set once GET or DUP pushes a container again: tracked heights may then be stale. */
  aliased = false;
  /** Set once the §5.9 marker was pushed: values are then checked for it. */
  markerMade = false;

  /**
   * Makes an empty machine state.
   *
   * @param input The input whose options bound it and whose failures it throws.
   */
  constructor(input: PickleInput) {
    this.#in = input;
  }

  // -------------------------------------------------------------------------------------------
  // Stack, marks, memo

  fence(): number {
    const m = this.marks;
    return m.length === 0 ? 0 : m[m.length - 1];
  }

  push(value: Item): void {
    if (this.stack.length >= this.#in.o.maxStackHeight) this.#in.limit("maxStackHeight");
    this.stack.push(value);
  }

  pop(): Item {
    if (this.stack.length <= this.fence()) this.#in.malformed("stack underflow");
    return this.stack.pop()!;
  }

  top(): Item {
    if (this.stack.length <= this.fence()) this.#in.malformed("stack underflow");
    return this.stack[this.stack.length - 1];
  }

  popN(n: number): Item[] {
    if (this.stack.length - n < this.fence()) this.#in.malformed("stack underflow");
    return this.stack.splice(this.stack.length - n);
  }

  popMark(): Item[] {
    if (this.marks.length === 0) this.#in.malformed("no MARK");
    return this.stack.splice(this.marks.pop()!);
  }

  memoPut(key: string): void {
    const top = this.top();
    if (this.memo.size >= this.#in.o.maxMemoEntries && !this.memo.has(key)) {
      this.#in.limit("maxMemoEntries");
    }
    this.memo.set(key, top);
  }

  memoGet(key: string): void {
    const value = this.memo.get(key);
    if (value === undefined) {
      this.#in.malformed(`memo entry ${JSON.stringify(key).slice(0, 40)} does not exist`);
    }
    this.pushAgain(value);
  }

  /** Pushes a value that is already stored elsewhere (GET, DUP). */
  pushAgain(value: Item): void {
    if (this.heights.has(value as object)) this.aliased = true;
    this.push(value);
  }

  get keys(): KeyInterner {
    return this.keyTable ??= new KeyInterner();
  }

  // -------------------------------------------------------------------------------------------
  // Containers

  height(value: Item): number {
    return typeof value === "object" && value !== null ? this.heights.get(value) ?? 0 : 0;
  }

  setHeight(container: object, height: number): void {
    if (height > this.#in.o.maxDepth) this.#in.limit("maxDepth");
    this.heights.set(container, height);
  }

  count(n: number): void {
    this.items += n;
    if (this.items > this.#in.o.maxTotalItems) this.#in.limit("maxTotalItems");
  }

  size(n: number): void {
    if (n > this.#in.o.maxContainerItems) this.#in.limit("maxContainerItems");
  }

  values(items: Item[]): PyValue[] {
    if (this.markerMade && items.includes(CODECS_ENCODE)) {
      this.#in.malformed("_codecs.encode used as a value");
    }
    return items as PyValue[];
  }

  hashable(key: PyValue, what: string): void {
    if (this.keys.intern(key) === undefined) {
      this.#in.malformed(`unhashable ${pyTypeOf(key)} ${what}`);
    }
  }

  tuple(items: Item[]): PyTuple {
    const values = this.values(items);
    this.size(values.length);
    this.count(values.length);
    let height = 1;
    for (const v of values) height = Math.max(height, this.height(v) + 1);
    const tuple = new PyTuple(values);
    this.setHeight(tuple, height);
    return tuple;
  }

  newContainer<T extends object>(container: T): T {
    this.setHeight(container, 1);
    return container;
  }

  extend(list: Item, items: Item[]): void {
    if (!Array.isArray(list)) this.#in.malformed("no list to append to");
    const values = this.values(items);
    this.size(list.length + values.length);
    this.count(values.length);
    let height = Math.max(this.height(list), 1);
    for (const v of values) height = Math.max(height, this.height(v) + 1);
    this.setHeight(list, height);
    for (const v of values) list.push(v);
  }

  setItems(dict: Item, items: Item[]): void {
    if (!(dict instanceof PyDict)) this.#in.malformed("no dict to set items in");
    if (items.length % 2 !== 0) this.#in.malformed("odd number of items for a dict");
    const values = this.values(items);
    this.count(values.length / 2);
    let height = Math.max(this.height(dict), 1);
    for (let i = 0; i < values.length; i += 2) {
      const key = values[i], value = values[i + 1];
      this.hashable(key, "as a dict key");
      dict.set(key, value);
      this.size(dict.size);
      height = Math.max(height, this.height(key) + 1, this.height(value) + 1);
    }
    this.setHeight(dict, height);
  }

  addItems(set: Item, items: Item[]): void {
    if (!(set instanceof PySet) || set.frozen) this.#in.malformed("no set to add to");
    const values = this.values(items);
    this.count(values.length);
    let height = Math.max(this.height(set), 1);
    for (const v of values) {
      this.hashable(v, "in a set");
      set.add(v);
      this.size(set.size);
      height = Math.max(height, this.height(v) + 1);
    }
    this.setHeight(set, height);
  }

  frozenSet(items: Item[]): PySet {
    const values = this.values(items);
    this.count(values.length);
    let height = 1;
    for (const v of values) {
      this.hashable(v, "in a frozenset");
      height = Math.max(height, this.height(v) + 1);
    }
    const set = new PySet(values, { keys: this.keys, frozen: true });
    this.size(set.size);
    this.setHeight(set, height);
    return set;
  }

  /**
   * Bounds the depth of the result graph. Heights tracked while decoding can be stale when a
   * container was filled after an alias of it had been stored elsewhere, so this walks the graph
   * once (iteratively; each node and edge once) and takes the longest path, cycles excluded.
   */
  checkDepth(root: PyValue): void {
    // Without GET or DUP of a container, no container changes after it joins a parent, so the
    // heights tracked while decoding are exact and this walk is skipped.
    const max = this.#in.o.maxDepth;
    const done = new Map<object, number>();
    const onPath = new Set<object>();
    const path: { node: object; kids: readonly PyValue[]; i: number; h: number }[] = [];
    const open = (value: PyValue): number | undefined => {
      const kids = childrenOf(value);
      if (kids === undefined) return 0;
      const node = value as object;
      const known = done.get(node);
      if (known !== undefined) return known;
      if (onPath.has(node)) return 0; // a cycle: not deeper
      if (path.length >= max) this.#in.limit("maxDepth");
      onPath.add(node);
      path.push({ node, kids, i: 0, h: 1 });
      return undefined;
    };
    open(root);
    while (path.length > 0) {
      const top = path[path.length - 1];
      if (top.i < top.kids.length) {
        const h = open(top.kids[top.i++]);
        if (h !== undefined) top.h = Math.max(top.h, h + 1);
        continue;
      }
      path.pop();
      onPath.delete(top.node);
      done.set(top.node, top.h);
      if (top.h > max) this.#in.limit("maxDepth");
      if (path.length > 0) {
        const parent = path[path.length - 1];
        parent.h = Math.max(parent.h, top.h + 1);
      }
    }
  }
}
