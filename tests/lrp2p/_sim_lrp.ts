/**
 * A small harness for LRP2P endpoints on the simulator: two (or more) endpoints on one SimNet,
 * byte streams pushed and pulled while the network runs, and checks of what arrived.
 */
import { SimNet } from "../../src/sim/mod.ts";
import type { LinkOptions } from "../../src/sim/links.ts";
import { Prng } from "../../src/util/prng.ts";
import { LrpEndpoint, type LrpEndpointOptions } from "../../src/lrp2p/endpoint.ts";
import { generateKeyPair } from "../../src/lrp2p/noise.ts";

/** One endpoint in the simulation. */
export interface SimPeer {
  readonly addr: string;
  readonly ep: LrpEndpoint;
}

/** Makes a network and endpoints at `10.0.0.i:7000`. */
export function simLrp(
  seed: number,
  count: number,
  link: LinkOptions = {},
  options: Partial<LrpEndpointOptions> = {},
  traceLimit = 0,
): { net: SimNet; peers: SimPeer[]; prng: Prng } {
  const prng = Prng.seeded(seed);
  const net = new SimNet({ prng: prng.fork(), defaults: link, traceLimit });
  const peers: SimPeer[] = [];
  for (let i = 1; i <= count; i++) {
    const rng = prng.fork();
    const random = (n: number) => rng.bytes(n);
    const ep = new LrpEndpoint({ staticKey: generateKeyPair(random), random, ...options });
    const addr = `10.0.0.${i}:7000`;
    net.add(addr, ep);
    peers.push({ addr, ep });
  }
  return { net, peers, prng };
}

/** A one-way transfer: `data` written into `from`'s connection and read out of `to`'s. */
export class Transfer {
  sent = 0;
  got: Uint8Array[] = [];
  gotBytes = 0;
  eof = false;
  closedAfterWrite = false;
  constructor(
    readonly from: LrpEndpoint,
    readonly fromId: bigint,
    readonly to: LrpEndpoint,
    readonly toId: bigint,
    readonly data: Uint8Array,
    readonly closeAtEnd = false,
  ) {}

  /** Writes what fits and reads what came; call between simulation steps. */
  step(now: number): void {
    while (this.sent < this.data.length) {
      const n = this.from.write(this.fromId, this.data.subarray(this.sent, this.sent + 8192), now);
      if (n === 0) break;
      this.sent += n;
    }
    if (this.closeAtEnd && this.sent === this.data.length && !this.closedAfterWrite) {
      this.closedAfterWrite = true;
      this.from.close(this.fromId, now);
    }
    for (;;) {
      const r = this.to.read(this.toId);
      if (r === undefined) break;
      if (r === null) {
        this.eof = true;
        break;
      }
      this.got.push(r);
      this.gotBytes += r.length;
    }
  }

  /** Whether every byte arrived. */
  get complete(): boolean {
    return this.gotBytes === this.data.length;
  }

  /** The bytes received, joined. */
  received(): Uint8Array {
    const out = new Uint8Array(this.gotBytes);
    let at = 0;
    for (const c of this.got) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

/** Drains every endpoint's events into a list per endpoint. */
export function collectEvents(
  peers: SimPeer[],
): Map<string, ReturnType<LrpEndpoint["pollEvent"]>[]> {
  const m = new Map<string, ReturnType<LrpEndpoint["pollEvent"]>[]>();
  for (const p of peers) {
    const list = [];
    for (let e = p.ep.pollEvent(); e; e = p.ep.pollEvent()) list.push(e);
    m.set(p.addr, list);
  }
  return m;
}

/** Equal bytes? */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** An event of an endpoint. */
export type LrpEventOf = NonNullable<ReturnType<LrpEndpoint["pollEvent"]>>;

/** Keeps every event of some endpoints (drain it between steps). */
export class EventLog {
  readonly events = new Map<LrpEndpoint, LrpEventOf[]>();
  constructor(readonly eps: LrpEndpoint[]) {
    for (const ep of eps) this.events.set(ep, []);
  }

  /** Pulls the pending events of every endpoint. */
  drain(): void {
    for (const ep of this.eps) {
      const list = this.events.get(ep)!;
      for (let e = ep.pollEvent(); e; e = ep.pollEvent()) list.push(e);
    }
  }

  /** The events of `ep` about `connId` of `type`. */
  of(ep: LrpEndpoint, connId: bigint, type: LrpEventOf["type"]): LrpEventOf[] {
    this.drain();
    return this.events.get(ep)!.filter((e) => e.connId === connId && e.type === type);
  }

  /** The `closed` event of `connId` on `ep`, if any. */
  closed(ep: LrpEndpoint, connId: bigint): { error?: string } | undefined {
    return this.of(ep, connId, "closed")[0] as { error?: string } | undefined;
  }
}

/** The seeds to run: `LRP_SIM_SEED=N` runs only N, else `first..first+count-1`. */
export function seeds(count: number, first = 1): number[] {
  const one = Deno.env.get("LRP_SIM_SEED");
  if (one !== undefined && one !== "") return [Number(one)];
  return Array.from({ length: count }, (_, i) => first + i);
}

/** Runs `body` for each seed; a failure names its seed and how to replay it. */
export function forSeeds(count: number, body: (seed: number) => void, first = 1): void {
  for (const seed of seeds(count, first)) {
    try {
      body(seed);
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      throw new Error(`seed ${seed} failed (replay: LRP_SIM_SEED=${seed}): ${msg}`, {
        cause: err,
      });
    }
  }
}

/**
 * Connects `a` to `b` and runs until `a` is open and `b` accepted it (or `maxTime`); returns the
 * two connection ids (`idB` undefined when it did not open).
 */
export function openPair(
  net: SimNet,
  a: SimPeer,
  b: SimPeer,
  maxTime = net.now + 60_000,
): { idA: bigint; idB: bigint | undefined } {
  const idA = a.ep.connect(b.addr, net.now);
  let idB: bigint | undefined;
  net.runWhile(() => {
    idB ??= b.ep.accept();
    return idB === undefined || a.ep.conn(idA)?.state !== "open";
  }, { maxTime });
  return { idA, idB };
}

/** Adds one more endpoint at `addr` to `net`, with its own options and a key from `seed`. */
export function addPeer(
  net: SimNet,
  seed: number,
  addr: string,
  options: Partial<LrpEndpointOptions> = {},
): SimPeer {
  const rng = Prng.seeded(seed);
  const random = (n: number) => rng.bytes(n);
  const ep = new LrpEndpoint({ staticKey: generateKeyPair(random), random, ...options });
  net.add(addr, ep);
  return { addr, ep };
}
