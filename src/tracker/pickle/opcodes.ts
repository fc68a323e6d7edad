/**
 * The pickle opcode table (spec §5.2–5.3 and §5.8): every opcode Python defines, its byte, the
 * protocol that introduced it and whether a safe decoder may run it. Opcodes that import, call or
 * reach outside the byte string (GLOBAL, REDUCE, BUILD, EXT*, PERSID, out-of-band buffers, ...)
 * are marked unsafe; every byte not in the table is unknown.
 *
 * @module
 */

/**
 * Opcode bytes by their pickletools name.
 *
 * @example Testing the first byte of a pickle
 * ```ts
 * import { Op } from "./opcodes.ts";
 * import assert from "node:assert/strict";
 * const bytes = Uint8Array.of(0x80, 2, 0x4b, 5, 0x2e); // \x80\x02K\x05.
 * assert.equal(bytes[0], Op.PROTO);
 * assert.equal(bytes.at(-1), Op.STOP);
 * ```
 */
export const Op = {
  // Integers, floats, constants
  INT: 0x49,
  BININT: 0x4a,
  BININT1: 0x4b,
  BININT2: 0x4d,
  LONG: 0x4c,
  LONG1: 0x8a,
  LONG4: 0x8b,
  FLOAT: 0x46,
  BINFLOAT: 0x47,
  NONE: 0x4e,
  NEWTRUE: 0x88,
  NEWFALSE: 0x89,
  // Strings and bytes
  STRING: 0x53,
  BINSTRING: 0x54,
  SHORT_BINSTRING: 0x55,
  UNICODE: 0x56,
  BINUNICODE: 0x58,
  SHORT_BINUNICODE: 0x8c,
  BINUNICODE8: 0x8d,
  SHORT_BINBYTES: 0x43,
  BINBYTES: 0x42,
  BINBYTES8: 0x8e,
  BYTEARRAY8: 0x96,
  // Containers
  MARK: 0x28,
  EMPTY_TUPLE: 0x29,
  TUPLE: 0x74,
  TUPLE1: 0x85,
  TUPLE2: 0x86,
  TUPLE3: 0x87,
  EMPTY_LIST: 0x5d,
  LIST: 0x6c,
  APPEND: 0x61,
  APPENDS: 0x65,
  EMPTY_DICT: 0x7d,
  DICT: 0x64,
  SETITEM: 0x73,
  SETITEMS: 0x75,
  EMPTY_SET: 0x8f,
  ADDITEMS: 0x90,
  FROZENSET: 0x91,
  // Stack and memo
  POP: 0x30,
  POP_MARK: 0x31,
  DUP: 0x32,
  PUT: 0x70,
  BINPUT: 0x71,
  LONG_BINPUT: 0x72,
  MEMOIZE: 0x94,
  GET: 0x67,
  BINGET: 0x68,
  LONG_BINGET: 0x6a,
  // Framing
  PROTO: 0x80,
  FRAME: 0x95,
  STOP: 0x2e,
  // Unsafe: import, call, or reach outside the byte string
  GLOBAL: 0x63,
  STACK_GLOBAL: 0x93,
  REDUCE: 0x52,
  BUILD: 0x62,
  INST: 0x69,
  OBJ: 0x6f,
  NEWOBJ: 0x81,
  NEWOBJ_EX: 0x92,
  EXT1: 0x82,
  EXT2: 0x83,
  EXT4: 0x84,
  PERSID: 0x50,
  BINPERSID: 0x51,
  NEXT_BUFFER: 0x97,
  READONLY_BUFFER: 0x98,
} as const;

/**
 * An opcode name, e.g. `"GLOBAL"` or `"SHORT_BINUNICODE"`.
 */
export type OpName = keyof typeof Op;

/**
 * The names of the opcodes a safe decoder refuses (spec §5.8).
 *
 * @example Listing them
 * ```ts
 * import { UNSAFE_OPCODES } from "./opcodes.ts";
 * import assert from "node:assert/strict";
 * const names: readonly string[] = UNSAFE_OPCODES;
 * assert.ok(names.includes("GLOBAL"));
 * assert.equal(names.includes("TUPLE"), false);
 * ```
 */
export const UNSAFE_OPCODES = [
  "GLOBAL",
  "STACK_GLOBAL",
  "REDUCE",
  "BUILD",
  "INST",
  "OBJ",
  "NEWOBJ",
  "NEWOBJ_EX",
  "EXT1",
  "EXT2",
  "EXT4",
  "PERSID",
  "BINPERSID",
  "NEXT_BUFFER",
  "READONLY_BUFFER",
] as const satisfies readonly OpName[];

/**
 * The name of an opcode a safe decoder refuses.
 */
export type UnsafeOpName = (typeof UNSAFE_OPCODES)[number];

/**
 * What the table knows about one opcode.
 *
 * @example Reading an entry
 * ```ts
 * import { type OpcodeInfo, opcodeInfo } from "./opcodes.ts";
 * import assert from "node:assert/strict";
 * const info: OpcodeInfo | undefined = opcodeInfo(0x8c);
 * assert.equal(info?.name, "SHORT_BINUNICODE");
 * assert.equal(info.since, 4);
 * assert.ok(info.safe);
 * ```
 */
export interface OpcodeInfo {
  /** The pickletools name. */
  readonly name: OpName;
  /** The opcode byte. */
  readonly byte: number;
  /** The protocol that introduced it (0..5). */
  readonly since: number;
  /** False for the opcodes of {@linkcode UNSAFE_OPCODES}. */
  readonly safe: boolean;
}

const SINCE: Readonly<Record<OpName, number>> = {
  INT: 0,
  BININT: 1,
  BININT1: 1,
  BININT2: 1,
  LONG: 0,
  LONG1: 2,
  LONG4: 2,
  FLOAT: 0,
  BINFLOAT: 1,
  NONE: 0,
  NEWTRUE: 2,
  NEWFALSE: 2,
  STRING: 0,
  BINSTRING: 1,
  SHORT_BINSTRING: 1,
  UNICODE: 0,
  BINUNICODE: 1,
  SHORT_BINUNICODE: 4,
  BINUNICODE8: 4,
  SHORT_BINBYTES: 3,
  BINBYTES: 3,
  BINBYTES8: 4,
  BYTEARRAY8: 5,
  MARK: 0,
  EMPTY_TUPLE: 1,
  TUPLE: 0,
  TUPLE1: 2,
  TUPLE2: 2,
  TUPLE3: 2,
  EMPTY_LIST: 1,
  LIST: 0,
  APPEND: 0,
  APPENDS: 1,
  EMPTY_DICT: 1,
  DICT: 0,
  SETITEM: 0,
  SETITEMS: 1,
  EMPTY_SET: 4,
  ADDITEMS: 4,
  FROZENSET: 4,
  POP: 0,
  POP_MARK: 1,
  DUP: 0,
  PUT: 0,
  BINPUT: 1,
  LONG_BINPUT: 1,
  MEMOIZE: 4,
  GET: 0,
  BINGET: 1,
  LONG_BINGET: 1,
  PROTO: 2,
  FRAME: 4,
  STOP: 0,
  GLOBAL: 0,
  STACK_GLOBAL: 4,
  REDUCE: 0,
  BUILD: 0,
  INST: 0,
  OBJ: 1,
  NEWOBJ: 2,
  NEWOBJ_EX: 4,
  EXT1: 2,
  EXT2: 2,
  EXT4: 2,
  PERSID: 0,
  BINPERSID: 1,
  NEXT_BUFFER: 5,
  READONLY_BUFFER: 5,
};

const TABLE: readonly (OpcodeInfo | undefined)[] = (() => {
  const table: (OpcodeInfo | undefined)[] = new Array(256).fill(undefined);
  const unsafe = new Set<OpName>(UNSAFE_OPCODES);
  for (const name of Object.keys(Op) as OpName[]) {
    const byte = Op[name];
    table[byte] = Object.freeze({ name, byte, since: SINCE[name], safe: !unsafe.has(name) });
  }
  return Object.freeze(table);
})();

/**
 * Looks an opcode byte up.
 *
 * @param byte A byte value, 0..255.
 * @returns The opcode's entry, or `undefined` when Python defines no opcode with that byte.
 *
 * @example
 * ```ts
 * import { opcodeInfo } from "./opcodes.ts";
 * import assert from "node:assert/strict";
 * assert.equal(opcodeInfo(0x63)?.safe, false); // GLOBAL
 * assert.equal(opcodeInfo(0xff), undefined);
 * ```
 */
export function opcodeInfo(byte: number): OpcodeInfo | undefined {
  return TABLE[byte];
}
