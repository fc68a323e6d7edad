/**
 * The inputs of the kv fuzz test, from a seeded generator: random bytes, valid messages (with
 * random keys, values, versions and extra fields), byte-mutated valid messages, and truncated ones.
 *
 * Handshakes name only the TCP ports in `ports` (ours): a member's contact address is the
 * datagram's source IP (127.0.0.1 here) plus that port, so the node under fuzz heartbeats and
 * pushes only to sockets of the test, never to another process on this machine. Byte mutations
 * therefore never touch a Handshake.
 */
import type { Prng } from "../../src/util/prng.ts";

const te = new TextEncoder();

/** Which kind of input was drawn (counted by the test). */
export type FuzzKind = "random" | "big" | "valid" | "mutated" | "truncated";

const ALPHABET = [
  ..."abcdefghijklmnopqrstuvwxyz0123456789 _-.:/",
  "é",
  "😀",
  "\u0000",
  "\n",
  '"',
  "\\",
  "\u007f",
  "\u2028",
];

function str(p: Prng, max: number): string {
  const n = p.int(0, max);
  let s = "";
  for (let i = 0; i < n; i++) s += p.pick(ALPHABET);
  return s;
}

function jsonValue(p: Prng, depth = 0): unknown {
  switch (p.int(0, depth > 2 ? 3 : 5)) {
    case 0:
      return null;
    case 1:
      return p.pick([0, 1, -1, 7, 2 ** 53, 2 ** 53 - 1, 1.5, 1e300, -0]);
    case 2:
      return str(p, 12);
    case 3:
      return p.chance(0.5);
    case 4:
      return Array.from({ length: p.int(0, 3) }, () => jsonValue(p, depth + 1));
    default:
      return Object.fromEntries(
        Array.from({ length: p.int(0, 3) }, () => [str(p, 6), jsonValue(p, depth + 1)]),
      );
  }
}

/** Adds up to two random extra fields to a message body. */
function extra(p: Prng, body: Record<string, unknown>): Record<string, unknown> {
  if (p.chance(0.3)) body[str(p, 8)] = jsonValue(p);
  if (p.chance(0.1)) body[p.pick(["key", "value", "clock", "origin", "kv_ext"])] = jsonValue(p);
  return body;
}

/** A message the codec accepts (mostly), or an extension request. */
function validMessage(p: Prng, ports: readonly number[], handshakes: boolean): string {
  const key = () => (p.chance(0.8) ? `k${p.int(0, 200)}` : str(p, 30));
  const kinds = ["unit", "set", "get", "sync", "value", "syncall", "members"];
  if (handshakes) kinds.push("hs", "hs", "legacy");
  switch (p.pick(kinds)) {
    case "unit":
      return p.chance(0.8)
        ? JSON.stringify(p.pick(["Heartbeat", "Greeting", "HeartbeatResponse"]))
        : `{"${p.pick(["Heartbeat", "Greeting"])}":null}`;
    case "set":
      return p.chance(0.2)
        ? JSON.stringify({ Setvalue: [key(), str(p, 40)] })
        : JSON.stringify({ Setvalue: extra(p, { key: key(), value: str(p, 40) }) });
    case "get":
      return JSON.stringify({ Getvalue: extra(p, { key: key() }) });
    case "sync":
      return JSON.stringify({
        Sync: extra(p, {
          key: key(),
          value: str(p, 40),
          // not 2^53-1: a node that saw it refuses every later write of its own (clock spent)
          clock: p.pick([1, p.int(1, 1000), 2 ** 40, 2 ** 53, 0, -3, 1.5, "7"]),
          origin: p.pick(["ts-x", "ts-y", "", str(p, 10)]),
        }),
      });
    case "value":
      return JSON.stringify({
        ValueResponse: extra(p, { value: p.chance(0.5) ? null : str(p, 10) }),
      });
    case "syncall":
      return '{"SyncAll":{}}';
    case "members":
      return p.chance(0.5) ? '"Members"' : '{"Members":{}}';
    case "legacy":
      return JSON.stringify({
        Handshake: { node_name: "", tcp_address: `127.0.0.1:${p.pick(ports)}` },
      });
    default:
      return JSON.stringify({
        Handshake: extra(p, {
          node_name: p.chance(0.5) ? `fz-${p.int(0, 3000)}` : str(p, 70),
          tcp_address: `127.0.0.1:${p.pick(ports)}`,
          kv_ext: p.pick([1, 1, 2, 0, -1, 1.5, "1"]),
          boot: p.pick([1, p.int(0, 2 ** 40), -5, 2 ** 53 - 1]),
        }),
      });
  }
}

function mutate(p: Prng, bytes: Uint8Array): Uint8Array {
  const b = [...bytes];
  for (let i = p.int(1, 4); i > 0; i--) {
    const at = p.int(0, Math.max(0, b.length - 1));
    switch (p.int(0, 3)) {
      case 0:
        b[at] = p.int(0, 255);
        break;
      case 1:
        b.splice(at, 0, p.pick([0x22, 0x5c, 0x7b, 0x7d, 0x5b, 0x5d, 0x2c, 0x3a, 0x20, 0xff, 0xc3]));
        break;
      case 2:
        b.splice(at, p.int(1, 4));
        break;
      default:
        b.splice(at, 0, ...b.slice(at, at + p.int(1, 20)));
    }
  }
  return Uint8Array.from(b);
}

/** Draws one fuzz input; `handshakes` false for TCP (a Handshake there is only ignored). */
export function draw(
  p: Prng,
  ports: readonly number[],
  handshakes = true,
): { kind: FuzzKind; bytes: Uint8Array } {
  const r = p.float();
  if (r < 0.3) return { kind: "random", bytes: p.bytes(p.int(0, 1500)) };
  if (r < 0.3002) return { kind: "big", bytes: p.bytes(p.int(1501, 65507)) };
  if (r < 0.6) return { kind: "valid", bytes: te.encode(validMessage(p, ports, handshakes)) };
  if (r < 0.85) {
    return { kind: "mutated", bytes: mutate(p, te.encode(validMessage(p, ports, false))) };
  }
  const whole = te.encode(validMessage(p, ports, handshakes));
  return { kind: "truncated", bytes: whole.subarray(0, p.int(0, Math.max(0, whole.length - 1))) };
}
