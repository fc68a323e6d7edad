/**
 * The wire codec of the key-value store (spec `kv.md` §2, §3.1, §5.3, §6.1, §6.5, §6.6).
 *
 * {@linkcode decodeMessage} accepts exactly what the original's `serde_json::from_slice::<Message>`
 * accepts (§2.3) and decodes our extension fields only when well-formed (serde ignores them, so a
 * message with a malformed extension field is still valid). {@linkcode encodeMessage} writes the
 * exact bytes serde_json would write, then our extension fields.
 *
 * Where serde_json is lenient and so are we: strings inside ignored (unknown) fields are not
 * checked for UTF-8 validity or unpaired surrogates, and their nesting is unbounded in serde (we
 * bound it at 512, unreachable within the original's 1024-byte buffer).
 *
 * @module
 */

import type { KvMessage, MemberInfo } from "./types.ts";
import { findDuplicateKey, jsonUint, parseJson } from "./json_strict.ts";
import type { JsonEntry, JsonValue } from "./json_strict.ts";
import { parseSocketAddr } from "./socket_addr.ts";

/** The original's receive buffer (§3.1, §3.2): messages for legacy peers must fit in it. */
export const LEGACY_MESSAGE_MAX = 1024;

/** Largest accepted message by default: the 64 KiB cap for `kv_ext` peers (§6.7). */
export const KV_MESSAGE_MAX = 65536;

/** Why a message was rejected. */
export interface KvDecodeError {
  /**
   * `too-long` over the size cap; `json` not JSON; `depth` nested too deep; `trailing` bytes after
   * the value; `utf8`/`surrogate` a bad string where one is read; `unknown-variant`; `shape` not a
   * string or one-key object, or a body of the wrong kind; `field` a missing, duplicate or
   * mistyped field; `address` a `tcp_address` that is not a Rust `SocketAddr`.
   */
  readonly kind:
    | "too-long"
    | "json"
    | "depth"
    | "trailing"
    | "utf8"
    | "surrogate"
    | "unknown-variant"
    | "shape"
    | "field"
    | "address";
  readonly detail: string;
}

/** The result of {@linkcode decodeMessage}. */
export type DecodeResult =
  | { readonly ok: true; readonly message: KvMessage }
  | { readonly ok: false; readonly error: KvDecodeError };

/** Options of {@linkcode decodeMessage}. */
export interface DecodeOptions {
  /** Decode the extension-only variants `SyncAll`, `Members`, `MembersResponse` (default false:
   * they are `unknown-variant`, as in the original). */
  readonly extensions?: boolean;
  /** Size cap in bytes (default {@linkcode KV_MESSAGE_MAX}). */
  readonly maxLength?: number;
}

class Reject {
  constructor(readonly error: KvDecodeError) {}
}

function reject(kind: KvDecodeError["kind"], detail: string): never {
  throw new Reject({ kind, detail });
}

/** A string serde reads (not an ignored one): must be well-formed. */
function str(v: JsonValue, what: string): string {
  if (v.kind !== "string") reject("field", `${what}: expected a string, got ${v.kind}`);
  if (v.problem !== null) {
    reject(v.problem, `${what}: ${v.problem === "utf8" ? "invalid UTF-8" : "unpaired surrogate"}`);
  }
  return v.value;
}

const UNIT = ["Greeting", "Heartbeat", "HeartbeatResponse"] as const;
const STRUCT: Record<string, readonly string[]> = {
  Handshake: ["node_name", "tcp_address"],
  Setvalue: ["key", "value"],
  Getvalue: ["key"],
  ValueResponse: ["value"],
  Sync: ["key", "value"],
};
const EXT_STRUCT: Record<string, readonly string[]> = {
  SyncAll: [],
  Members: [],
  MembersResponse: ["members"],
};
const OPTIONAL = new Set(["value@ValueResponse"]);

interface Body {
  readonly fields: Map<string, JsonValue>;
  /** Unknown fields of the object form (extension fields), first occurrence; null if repeated. */
  readonly extra: Map<string, JsonValue | null>;
}

/** serde's derived struct visitor: object (any order, unknown ignored) or exact-length array. */
function structBody(variant: string, names: readonly string[], body: JsonValue): Body {
  const fields = new Map<string, JsonValue>();
  const extra = new Map<string, JsonValue | null>();
  if (body.kind === "array") {
    if (body.items.length !== names.length) {
      reject("field", `${variant}: invalid length ${body.items.length}, expected ${names.length}`);
    }
    names.forEach((n, i) => fields.set(n, body.items[i]));
  } else if (body.kind === "object") {
    for (const e of body.entries) str(e.key, `${variant} field name`);
    const dup = findDuplicateKey(body.entries, names);
    if (dup !== null) reject("field", `${variant}: duplicate field \`${dup}\``);
    for (const { key, value } of body.entries) {
      if (names.includes(key.value)) fields.set(key.value, value);
      else extra.set(key.value, extra.has(key.value) ? null : value);
    }
    for (const n of names) {
      if (!fields.has(n) && !OPTIONAL.has(`${n}@${variant}`)) {
        reject("field", `${variant}: missing field \`${n}\``);
      }
    }
  } else reject("shape", `${variant}: expected a struct (object or array), got ${body.kind}`);
  return { fields, extra };
}

function extUint(body: Body, name: string, min: number): number | undefined {
  const v = body.extra.get(name);
  return v == null ? undefined : jsonUint(v, min) ?? undefined;
}

function extOrigin(body: Body): string | undefined {
  const v = body.extra.get("origin");
  return v?.kind === "string" && v.problem === null && v.value !== "" ? v.value : undefined;
}

function versioned<T extends object>(base: T, body: Body): T {
  const clock = extUint(body, "clock", 1);
  const origin = extOrigin(body);
  return clock !== undefined && origin !== undefined ? { ...base, clock, origin } : base;
}

function member(v: JsonValue, i: number): MemberInfo {
  const names = ["name", "address", "state", "last_seen", "ext"];
  if (v.kind !== "object") reject("field", `members[${i}]: expected an object`);
  const { fields } = structBody(`members[${i}]`, names, v);
  const lastSeen = jsonUint(fields.get("last_seen")!, 0);
  if (lastSeen === null) reject("field", `members[${i}].last_seen: expected an integer`);
  const ext = fields.get("ext")!;
  if (ext.kind !== "bool") reject("field", `members[${i}].ext: expected a boolean`);
  return {
    name: str(fields.get("name")!, "name"),
    address: str(fields.get("address")!, "address"),
    state: str(fields.get("state")!, "state"),
    lastSeen,
    ext: ext.value,
  };
}

function variantOf(name: string, body: JsonValue | null, extensions: boolean): KvMessage {
  if ((UNIT as readonly string[]).includes(name)) {
    if (body !== null && body.kind !== "null") {
      reject("shape", `${name}: a unit variant's body must be null`);
    }
    return { type: name as (typeof UNIT)[number] };
  }
  const names = STRUCT[name] ?? (extensions ? EXT_STRUCT[name] : undefined);
  if (names === undefined) reject("unknown-variant", `unknown variant \`${name}\``);
  if (body === null) reject("shape", `${name}: a struct variant cannot be a bare string`);
  const b = structBody(name, names, body);
  const f = (n: string) => b.fields.get(n)!;
  switch (name) {
    case "Handshake": {
      const tcpAddress = str(f("tcp_address"), "tcp_address");
      if (parseSocketAddr(tcpAddress) === null) {
        reject(
          "address",
          `tcp_address: invalid socket address syntax: ${JSON.stringify(tcpAddress)}`,
        );
      }
      const kvExt = extUint(b, "kv_ext", 0);
      const boot = extUint(b, "boot", 0);
      return {
        type: "Handshake",
        nodeName: str(f("node_name"), "node_name"),
        tcpAddress,
        ...(kvExt !== undefined ? { kvExt } : {}),
        ...(boot !== undefined ? { boot } : {}),
      };
    }
    case "Setvalue":
      return { type: "Setvalue", key: str(f("key"), "key"), value: str(f("value"), "value") };
    case "Getvalue":
      return { type: "Getvalue", key: str(f("key"), "key") };
    case "Sync":
      return versioned(
        { type: "Sync", key: str(f("key"), "key"), value: str(f("value"), "value") },
        b,
      );
    case "ValueResponse": {
      const v = b.fields.get("value");
      const value = v === undefined || v.kind === "null" ? null : str(v, "value");
      return versioned({ type: "ValueResponse", value }, b);
    }
    case "MembersResponse": {
      const m = f("members");
      if (m.kind !== "array") reject("field", "members: expected an array");
      return { type: "MembersResponse", members: m.items.map(member) };
    }
    default:
      return { type: name as "SyncAll" | "Members" };
  }
}

/**
 * Decodes one message. Never throws. Accepts exactly serde_json's set (§2.3); see the module doc.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeMessage } from "./codec.ts";
 * const enc = new TextEncoder();
 * assert.deepEqual(decodeMessage(enc.encode('{"Setvalue":["k","v"]}')), {
 *   ok: true,
 *   message: { type: "Setvalue", key: "k", value: "v" },
 * });
 * const sync = decodeMessage(enc.encode('{"Sync":{"key":"b","value":"2","clock":7,"origin":"ts-x"}}'));
 * assert.deepEqual(sync.ok && sync.message, { type: "Sync", key: "b", value: "2", clock: 7, origin: "ts-x" });
 * const bad = decodeMessage(enc.encode('{"getvalue":{"key":"a"}}'));
 * assert.equal(!bad.ok && bad.error.kind, "unknown-variant");
 * assert.equal(decodeMessage(enc.encode('{"SyncAll":{}}'), { extensions: true }).ok, true);
 * ```
 */
export function decodeMessage(bytes: Uint8Array, options: DecodeOptions = {}): DecodeResult {
  const parsed = parseJson(bytes, {
    maxLength: options.maxLength ?? KV_MESSAGE_MAX,
    strictStrings: false,
  });
  if (!parsed.ok) {
    return {
      ok: false,
      error: {
        kind: parsed.error.kind,
        detail: `${parsed.error.detail} at byte ${parsed.error.offset}`,
      },
    };
  }
  const v = parsed.value;
  try {
    let message: KvMessage;
    if (v.kind === "string") {
      message = variantOf(str(v, "variant"), null, options.extensions ?? false);
    } else if (v.kind === "object") {
      if (v.entries.length !== 1) {
        reject("shape", `expected an object with one variant key, got ${v.entries.length}`);
      }
      const e: JsonEntry = v.entries[0];
      message = variantOf(str(e.key, "variant"), e.value, options.extensions ?? false);
    } else {return {
        ok: false,
        error: { kind: "shape", detail: `expected a string or an object, got ${v.kind}` },
      };}
    return { ok: true, message };
  } catch (e) {
    if (e instanceof Reject) return { ok: false, error: e.error };
    return { ok: false, error: { kind: "json", detail: String(e) } };
  }
}

/**
 * What the original does with one datagram or one TCP read (§3.1): only the first
 * {@linkcode LEGACY_MESSAGE_MAX} bytes are parsed, and extension variants are unknown.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeLegacyBuffer } from "./codec.ts";
 * const enc = new TextEncoder();
 * const hs = '{"Handshake":{"node_name":"a","tcp_address":"1.2.3.4:9000"}}';
 * assert.equal(decodeLegacyBuffer(enc.encode(hs.padEnd(1100, " "))).ok, true);
 * assert.equal(decodeLegacyBuffer(enc.encode(hs.padEnd(1100, " ") + "x")).ok, true); // never looked at
 * assert.equal(decodeLegacyBuffer(enc.encode(hs.padEnd(1020, " ") + "xxxxx")).ok, false);
 * ```
 */
export function decodeLegacyBuffer(bytes: Uint8Array): DecodeResult {
  return decodeMessage(bytes.subarray(0, LEGACY_MESSAGE_MAX), { extensions: false });
}

/**
 * Whether a string has no unpaired surrogate, i.e. can be sent (the original rejects the
 * `\udxxx` escapes `JSON.stringify` would produce for one).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isWellFormedString } from "./codec.ts";
 * assert.equal(isWellFormedString("a😀"), true);
 * assert.equal(isWellFormedString("a\ud800"), false);
 * ```
 */
export function isWellFormedString(s: string): boolean {
  return !/\p{Cs}/u.test(s);
}

function checkStr(s: string, what: string): string {
  if (typeof s !== "string" || !isWellFormedString(s)) {
    throw new TypeError(`${what}: not a well-formed string`);
  }
  return s;
}

function checkUint(n: number, min: number, what: string): number {
  if (!Number.isSafeInteger(n) || n < min) {
    throw new TypeError(`${what}: expected an integer in ${min}…2^53−1, got ${n}`);
  }
  return n;
}

function body(message: KvMessage, ext: boolean): unknown {
  switch (message.type) {
    case "Greeting":
    case "Heartbeat":
    case "HeartbeatResponse":
      return message.type;
    case "Handshake": {
      if (parseSocketAddr(message.tcpAddress) === null) {
        throw new TypeError(
          `tcp_address: not a socket address: ${JSON.stringify(message.tcpAddress)}`,
        );
      }
      const o: Record<string, unknown> = {
        node_name: checkStr(message.nodeName, "node_name"),
        tcp_address: message.tcpAddress,
      };
      if (ext && message.kvExt !== undefined) o.kv_ext = checkUint(message.kvExt, 0, "kv_ext");
      if (ext && message.boot !== undefined) o.boot = checkUint(message.boot, 0, "boot");
      return { Handshake: o };
    }
    case "Setvalue":
      return {
        Setvalue: { key: checkStr(message.key, "key"), value: checkStr(message.value, "value") },
      };
    case "Getvalue":
      return { Getvalue: { key: checkStr(message.key, "key") } };
    case "Sync":
    case "ValueResponse": {
      const o: Record<string, unknown> = message.type === "Sync"
        ? { key: checkStr(message.key, "key"), value: checkStr(message.value, "value") }
        : { value: message.value === null ? null : checkStr(message.value, "value") };
      if (ext && message.clock !== undefined) o.clock = checkUint(message.clock, 1, "clock");
      if (ext && message.origin !== undefined) o.origin = checkStr(message.origin, "origin");
      return { [message.type]: o };
    }
    case "SyncAll":
    case "Members":
      if (!ext) throw new TypeError(`${message.type} has no plain form`);
      return { [message.type]: {} };
    case "MembersResponse":
      if (!ext) throw new TypeError("MembersResponse has no plain form");
      return {
        MembersResponse: {
          members: message.members.map((m) => ({
            name: checkStr(m.name, "name"),
            address: checkStr(m.address, "address"),
            state: checkStr(m.state, "state"),
            last_seen: checkUint(m.lastSeen, 0, "last_seen"),
            ext: m.ext === true,
          })),
        },
      };
  }
}

const utf8 = new TextEncoder();

/**
 * Encodes a message as the exact compact JSON bytes of §2.1/§2.2, with the extension fields of
 * §6 after the original fields (Handshake `kv_ext`, `boot`; Sync/ValueResponse `clock`,
 * `origin`), each only when present. Unit variants are bare strings.
 *
 * @throws {TypeError} for a string with an unpaired surrogate (the original rejects those), a
 * `tcpAddress` that Rust would not parse (it would make a legacy peer exit), or an extension
 * number out of range. Messages built from decoded input never throw.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeMessage } from "./codec.ts";
 * const dec = new TextDecoder();
 * assert.equal(dec.decode(encodeMessage({ type: "Heartbeat" })), '"Heartbeat"');
 * assert.equal(
 *   dec.decode(encodeMessage({ type: "Handshake", nodeName: "ts-x", tcpAddress: "10.0.0.5:9000", kvExt: 1, boot: 5 })),
 *   '{"Handshake":{"node_name":"ts-x","tcp_address":"10.0.0.5:9000","kv_ext":1,"boot":5}}',
 * );
 * assert.throws(() => encodeMessage({ type: "Getvalue", key: "\ud800" }), TypeError);
 * ```
 */
export function encodeMessage(message: KvMessage): Uint8Array {
  return utf8.encode(JSON.stringify(body(message, true)));
}

/**
 * Encodes a message without any extension field: the form for legacy peers when the extended
 * one would exceed {@linkcode LEGACY_MESSAGE_MAX} (§5.3).
 *
 * @throws {TypeError} as {@linkcode encodeMessage}, and for the extension-only variants
 * (`SyncAll`, `Members`, `MembersResponse`), which must never reach a legacy peer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodePlain } from "./codec.ts";
 * const bytes = encodePlain({ type: "Sync", key: "k", value: "v", clock: 3, origin: "ts-a" });
 * assert.equal(new TextDecoder().decode(bytes), '{"Sync":{"key":"k","value":"v"}}');
 * assert.throws(() => encodePlain({ type: "SyncAll" }), TypeError);
 * ```
 */
export function encodePlain(message: KvMessage): Uint8Array {
  return utf8.encode(JSON.stringify(body(message, false)));
}
