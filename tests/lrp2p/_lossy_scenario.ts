/**
 * The lossy bidirectional transfer of LRP2P as one seeded scenario: the seed draws the loss
 * (0–30%), duplication, corruption, delay range (reordering) and the sizes of two byte streams;
 * both sides write at once, close at the end, and every byte must arrive exactly once and in
 * order, both connections must end with a clean `closed` event (or, rarely, a sender gives up
 * and both ends report an error: never a clean end of a stream with bytes missing), and no timer
 * may be left after the linger. Shared by `sim_lossy_test.ts` (1,000 seeds) and `deno task sim`.
 *
 * @module
 */

import { Prng } from "../../src/util/prng.ts";
import type { LinkOptions } from "../../src/sim/links.ts";
import { EventLog, openPair, sameBytes, simLrp, Transfer } from "./_sim_lrp.ts";

/** The link and sizes a seed draws. */
export interface LossyParams {
  link: LinkOptions;
  bytesAB: number;
  bytesBA: number;
}

/** Draws the parameters of `seed`. */
export function lossyParams(seed: number, maxBytes = 50_000): LossyParams {
  const d = Prng.seeded(seed ^ 0x5eed);
  const lo = d.int(1, 20);
  const size =
    () => (d.chance(0.05) ? d.int(0, 2000) : d.int(Math.min(20_000, maxBytes), maxBytes));
  return {
    link: {
      dropRate: d.float() * 0.3,
      dupRate: d.chance(0.5) ? d.float() * 0.1 : 0,
      corruptRate: d.chance(0.5) ? d.float() * 0.05 : 0,
      delayMs: [lo, lo + d.int(0, 80)],
    },
    bytesAB: size(),
    bytesBA: size(),
  };
}

/**
 * Runs `seed`; throws (with the end of the trace when `traceLimit` > 0) when a property fails.
 *
 * @returns A one-line summary and the trace.
 */
export function lossyTransferScenario(
  seed: number,
  { maxBytes = 50_000, traceLimit = 0 } = {},
): { trace: string; summary: string; gaveUp: boolean; dropRate: number } {
  const p = lossyParams(seed, maxBytes);
  const { net, peers, prng } = simLrp(seed, 2, p.link, {}, traceLimit);
  const [a, b] = peers;
  const log = new EventLog([a.ep, b.ep]);
  const fail = (msg: string): never => {
    const tail = traceLimit > 0
      ? `\n--- last trace lines ---\n${net.formatTrace({ last: 40 })}`
      : "";
    throw new Error(`${msg} (link ${JSON.stringify(p.link)})${tail}`);
  };
  const { idA, idB } = openPair(net, a, b, 200_000);
  if (idB === undefined) return fail(`no connection: ${a.ep.conn(idA)?.state} at ${net.now} ms`);
  const ab = new Transfer(a.ep, idA, b.ep, idB, prng.bytes(p.bytesAB), true);
  const ba = new Transfer(b.ep, idB, a.ep, idA, prng.bytes(p.bytesBA), true);
  const end = net.runWhile(() => {
    ab.step(net.now);
    ba.step(net.now);
    return !(ab.eof && ba.eof && log.closed(a.ep, idA) && log.closed(b.ep, idB));
  }, { maxTime: net.now + 1_200_000 });
  const status = `${ab.gotBytes}/${p.bytesAB} a→b (eof ${ab.eof}), ${ba.gotBytes}/${p.bytesBA} ` +
    `b→a (eof ${ba.eof}) at ${net.now} ms`;
  // delivered bytes are always exactly a prefix of what was written
  if (!sameBytes(ab.received(), ab.data.subarray(0, ab.gotBytes))) {
    fail(`a→b bytes differ: ${status}`);
  }
  if (!sameBytes(ba.received(), ba.data.subarray(0, ba.gotBytes))) {
    fail(`b→a bytes differ: ${status}`);
  }
  if (end !== "done") fail(`not finished (${end}): ${status}`);
  const ca = log.closed(a.ep, idA)!, cb = log.closed(b.ep, idB)!;
  // a clean end of a stream (no error on the reader's side) means every byte arrived
  if (cb.error === undefined && !ab.complete) fail(`b closed cleanly, a→b incomplete: ${status}`);
  if (ca.error === undefined && !ba.complete) fail(`a closed cleanly, b→a incomplete: ${status}`);
  // Under heavy loss a sender may give up (8 RTO expiries, or 60 s without a datagram): both ends
  // then report it. The caller bounds how often that happens.
  const gaveUp = ca.error !== undefined || cb.error !== undefined;
  const why = `a "${ca.error}", b "${cb.error}"`;
  if (gaveUp && !/^(peer unreachable|idle timeout)$/.test(ca.error ?? cb.error!)) {
    fail(`closed with an unexpected error: ${why}: ${status}`);
  }
  if (!gaveUp && (!ab.complete || !ba.complete)) fail(`incomplete: ${status}`);
  // after the linger nothing is left: no connection, no timer
  const idle = net.runWhile(() => a.ep.size + b.ep.size > 0, { maxTime: net.now + 60_000 });
  if (idle !== "done" || a.ep.nextTimeout() !== undefined || b.ep.nextTimeout() !== undefined) {
    fail(`still held after the close: ${a.ep.size} + ${b.ep.size} connections (${idle})`);
  }
  return {
    trace: traceLimit > 0 ? net.formatTrace() : "",
    summary: `${p.bytesAB} + ${p.bytesBA} bytes over ${(p.link.dropRate! * 100).toFixed(0)}% ` +
      `loss, ${gaveUp ? `given up (${why})` : "done"} at ${net.now.toFixed(0)} ms`,
    gaveUp,
    dropRate: p.link.dropRate!,
  };
}
