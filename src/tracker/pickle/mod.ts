/**
 * The safe Python pickle codec of the CS457 tracker (spec §5): a decoder for protocols 0 to 5
 * that runs only data opcodes, refuses everything that imports or calls, bounds every size and
 * never throws on input; and encoders for protocol 0 (byte for byte what the Python 2 originals
 * send) and protocol 2. Values use the typed model of `value.ts`: `null`, `boolean`, ints as
 * `number`/`bigint`, {@linkcode PyFloat}, text as `string`, py2 str as {@linkcode Py2Str},
 * `Uint8Array`, {@linkcode PyByteArray}, {@linkcode PyTuple}, arrays, {@linkcode PyDict},
 * {@linkcode PySet}.
 *
 * @example Answer an ECHO request like the original tracker
 * ```ts
 * import { decodePickle, encodePickle, Py2Str, pyText, PyTuple } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const request = new TextEncoder().encode("(S'ECHO'\np0\nS'alice'\np1\ntp2\n.");
 * const r = decodePickle(request, { maxInputBytes: 1024 });
 * if (!r.ok) throw new Error(r.error.message);
 * const [command, handle] = (r.value as PyTuple).items;
 * assert.equal(pyText(command), "ECHO");
 * assert.ok(handle instanceof Py2Str);
 *
 * const greeting = Py2Str.fromText(
 *   `Hi ${pyText(handle)}, Welcome to the network. Register to get started.`,
 * );
 * const reply = encodePickle(PyTuple.of(Py2Str.fromText("[Tracker]"), greeting));
 * assert.ok(new TextDecoder().decode(reply).startsWith("(S'[Tracker]'\np0\nS'Hi alice,"));
 * ```
 *
 * @module
 */

export {
  decodePickle,
  type DecodePickleOptions,
  type DecodePickleResult,
  DEFAULT_DECODE_LIMITS,
} from "./decode.ts";
export { describePyValue, type DescribePyValueOptions, type PyDescription } from "./describe.ts";
export { encodePickle, type EncodePickleOptions } from "./encode.ts";
export type { PickleError, PickleErrorKind, PickleLimitName } from "./error.ts";
export {
  Op,
  type OpcodeInfo,
  opcodeInfo,
  type OpName,
  UNSAFE_OPCODES,
  type UnsafeOpName,
} from "./opcodes.ts";
export {
  KeyInterner,
  Py2Str,
  PyByteArray,
  type PyContainerOptions,
  PyDict,
  PyFloat,
  PySet,
  pyText,
  PyTuple,
  type PyTypeName,
  pyTypeOf,
  type PyValue,
} from "./value.ts";
