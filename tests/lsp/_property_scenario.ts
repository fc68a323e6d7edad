// The LSP safety and liveness property over random parameters and random fault schedules,
// 1,000 seeds: every message written is read exactly once, in order, unchanged — or the
// connection is reported lost; never wrong or extra data. Then the network heals, and every
// connection still alive must deliver everything within a few epochs, while every connection
// with one side gone must end on the other side too.
//
// Faults (each often off): loss up to 30%, duplication up to 20%, delays up to δ (reordering),
// payload corruption (one flipped byte, detected by the checksum), shortened and lengthened
// payloads, 500 ms holds, a partition of one node for up to K + 2 epochs, clients closing.
// Scenario knobs: ISNs from 0 to 2^52, sequential or random ConnIDs, duplicate Connects
// ignored or answered, from none to 120 writes.
import { scenarioPrng, SERVER, specParams, World } from "./_sim_harness.ts";
import { StreamChecker } from "../../src/sim/mod.ts";
import { decodeMessage, MsgType } from "../../src/lsp/wire.ts";
import { MAX_ISN } from "../../src/lsp/conn.ts";

/**
 * The LSP safety and liveness property as a seeded scenario (see the comment at the top): one
 * seed draws the parameters, the faults and the schedule, runs the lossy phase and the healed
 * phase, and throws when a check fails. Shared by `sim_property_test.ts` (fixed seeds) and
 * `deno task sim` (random seeds).
 *
 * @returns The run's trace and a one-line summary.
 */
export function lspPropertyScenario(
  seed: number,
): { trace: string; summary: string } {
  const world = property(seed);
  return {
    trace: world.net.formatTrace(),
    summary: `${world.clients.length} clients, ended at ${world.now.toFixed(0)} ms`,
  };
}

/** Runs the property for one seed; returns the world for the caller's checks. */
export function property(seed: number): World {
  // ---- the scenario, drawn from the seed ----------------------------------------------------
  const draw = scenarioPrng(seed);
  const K = draw.int(2, 6);
  const delta = draw.pick([20, 50, 100, 200]);
  const B = draw.int(0, 3);
  const params = specParams(K, delta, draw.int(1, 6), B, draw.int(1, 6));
  const rate = (max: number) => (draw.chance(0.35) ? 0 : draw.float() * max);
  const delayMax = draw.chance(0.3) ? 1 : 0.2 + draw.float() * delta;
  const delayMin = draw.float() * delayMax;
  const world = new World({
    seed,
    params,
    clients: draw.int(1, 3),
    link: {
      dropRate: rate(0.3),
      dupRate: rate(0.2),
      delayMs: [delayMin, delayMax],
    },
    clientStaggerMs: delta,
    traceLimit: 400,
    isn: (_, prng) => prng.pick([0, prng.int(1, 256), prng.int(2 ** 31, 2 ** 33), MAX_ISN]),
    server: {
      randomConnIds: draw.chance(0.3),
      answerDuplicateConnect: draw.chance(0.3),
    },
  });
  const faults = world.faults;
  faults.corruptRate = rate(0.15);
  if (draw.chance(0.25)) faults.shortenRate = draw.float() * 0.1;
  if (draw.chance(0.25)) faults.lengthenRate = draw.float() * 0.1;
  const holds = delta >= 100 && draw.chance(0.25);
  if (holds) faults.delayRate = draw.float() * 0.2;
  const lossyMs = draw.int(2, 8) * delta;
  world.note(
    `K ${K} δ ${delta} ω ${params.windowSize} B ${B} M ${params.maxUnackedMessages}, ` +
      `link ${JSON.stringify(world.net.linkOptions("a", "b"))}, corrupt ${faults.corruptRate}, ` +
      `shorten ${faults.shortenRate}, lengthen ${faults.lengthenRate}, hold ${faults.delayRate}`,
  );

  // ---- the checker ----------------------------------------------------------------------------
  const checker = new StreamChecker({ maxMessages: 1000 });
  const up = (id: number) => `c${id} up`, down = (id: number) => `c${id} down`;
  world.onServer((e) => {
    if (e.type === "message") checker.delivered(up(e.connId), e.payload);
  });
  world.onClient((c, e) => {
    if (e.type === "message") checker.delivered(down(c.connId), e.payload);
  });

  // ---- proof of life (§11.4): what resets each side's silence counter -------------------------
  // Server side of ConnID X: a datagram from the client's address with ConnID X, or a Connect.
  // Client side: a datagram from the server with the client's ConnID.
  const proofs = new Map<string, number[]>();
  const proofKey = (to: string, from: string, connId: number) => `${to}<${from}#${connId}`;
  world.net.onPacket((r, data) => {
    if (r.kind !== "deliver" || data === undefined) return;
    const msg = decodeMessage(data);
    if (msg === undefined) return;
    const key = msg.type === MsgType.Connect && r.to === SERVER
      ? proofKey(r.to, r.from, -1)
      : proofKey(r.to, r.from, msg.connId);
    const list = proofs.get(key) ?? [];
    list.push(r.time);
    proofs.set(key, list);
  });

  // ---- the schedule: writes both ways, closes, a partition ------------------------------------
  const payload = () =>
    world.prng.bytes(
      world.prng.chance(0.1) ? world.prng.int(0, 1000) : world.prng.int(0, 24),
    );
  const clock = world.net.clock;
  const writes = draw.chance(0.2) ? draw.int(40, 120) : draw.int(0, 40);
  for (let i = 0; i < writes; i++) {
    const toServer = draw.chance(0.5);
    const who = draw.int(0, world.clients.length - 1);
    clock.setTimeout(draw.float() * lossyMs, () => {
      const c = world.clients[who];
      if (toServer) {
        if (c.connId === 0 || c.endpoint.connState(c.connId) !== "open") return;
        const p = payload();
        c.endpoint.write(c.connId, p, world.now);
        checker.sent(up(c.connId), p);
      } else {
        const open = world.server.connIds().filter((id) => world.server.connState(id) === "open");
        if (
          open.length === 0 || !world.serverConns.has(open[who % open.length])
        ) return;
        const id = open[who % open.length];
        const p = payload();
        world.server.write(id, p, world.now);
        checker.sent(down(id), p);
      }
    });
  }
  for (const c of world.clients) {
    if (draw.chance(0.2)) {
      clock.setTimeout(
        (0.5 + draw.float() / 2) * lossyMs,
        () => c.endpoint.closeAll(world.now),
      );
    }
  }
  if (draw.chance(0.35)) {
    const who = draw.int(-1, world.clients.length - 1);
    const addr = who < 0 ? SERVER : world.clients[who].addr;
    const at = draw.float() * lossyMs, length = draw.float() * (K + 2) * delta;
    clock.setTimeout(at, () => {
      world.note(`partition: ${addr} isolated for ${length}ms`);
      world.net.isolate(addr);
    });
    if (at + length < lossyMs) {
      clock.setTimeout(at + length, () => world.net.heal());
    }
  }

  // ---- the lossy phase ------------------------------------------------------------------------
  world.runTo(lossyMs);
  world.verify("safety under faults", () => checker.check());

  // ---- liveness: heal everything --------------------------------------------------------------
  const healedAt = world.now;
  world.net.setDefaults({ dropRate: 0, dupRate: 0, delayMs: [0.2, 2] });
  faults.reset();
  world.net.heal();
  world.note("healed");
  const complete = (stream: string) => {
    const { sent, delivered } = checker.counts(stream);
    return sent === delivered;
  };
  const clientFor = (id: number) => world.clients.find((c) => c.connId === id);
  /** Why a connection is not settled yet, or undefined when it is. */
  const unsettled = (): string | undefined => {
    for (const c of world.clients) {
      if (c.connId === 0) {
        if (c.end === undefined) return `client ${c.index} is still connecting`;
        continue;
      }
      const sc = world.serverConns.get(c.connId)!;
      if (c.end === undefined && sc.end === undefined) {
        if (!complete(up(c.connId))) {
          return `c${c.connId} up is incomplete, both sides alive`;
        }
        if (!complete(down(c.connId))) {
          return `c${c.connId} down is incomplete, both sides alive`;
        }
      } else if (c.end === undefined || sc.end === undefined) {
        return `c${c.connId}: client ${c.end ?? "alive"}, server ${sc.end ?? "alive"}`;
      }
    }
    for (const sc of world.serverConns.values()) {
      if (sc.end === undefined && clientFor(sc.connId) === undefined) {
        return `server c${sc.connId} has no client and is still alive`;
      }
    }
    return undefined;
  };
  const pending = checker.streams().reduce((n, s) => {
    const { sent, delivered } = checker.counts(s);
    return n + sent - delivered;
  }, 0);
  const bound = (K + B + 4) * delta + (holds ? 500 : 0) + 10 * pending;
  world.runWhile(() => unsettled() !== undefined, healedAt + bound);
  const why = unsettled();
  world.check(
    why === undefined,
    () => `not settled ${bound}ms after healing: ${why}`,
  );

  // ---- the verdict ------------------------------------------------------------------------------
  world.verify("every stream", () => checker.check());
  /**
   * §11.4 on one side of a connection: between `from` and `until`, no silence of K·δ or more
   * went unreported, and a loss came after (K−1)·δ to K·δ of silence, never sooner or later.
   */
  const checkSilences = (
    what: string,
    times: number[],
    from: number,
    until: number,
    lost: boolean,
  ) => {
    let last = from;
    for (const t of times) {
      if (t < from || t > until) continue;
      world.check(
        t - last <= K * delta + 1e-6,
        () => `${what}: silent from ${last}ms to ${t}ms, over K·δ, without being lost`,
      );
      last = t;
    }
    const tail = until - last;
    if (lost) {
      world.check(
        tail >= (K - 1) * delta - 1e-6 && tail <= K * delta + 1e-6,
        () => `${what}: lost at ${until}ms after ${tail}ms of silence (K ${K}, δ ${delta})`,
      );
    } else {
      world.check(
        tail <= K * delta + 1e-6,
        () => `${what}: silent since ${last}ms, not lost`,
      );
    }
  };
  const endTime = world.now;
  for (const sc of world.serverConns.values()) {
    const times = [
      ...(proofs.get(proofKey(SERVER, sc.addr, sc.connId)) ?? []),
      ...(proofs.get(proofKey(SERVER, sc.addr, -1)) ?? []),
    ].sort((a, b) => a - b);
    checkSilences(
      `server c${sc.connId}`,
      times,
      sc.connectedAt,
      sc.endedAt ?? endTime,
      sc.end === "lost",
    );
  }
  for (const c of world.clients) {
    if (c.connId === 0 || c.end === "connectFailed") continue;
    const times = proofs.get(proofKey(c.addr, SERVER, c.connId)) ?? [];
    checkSilences(
      `client ${c.index}`,
      times,
      c.connectedAt!,
      c.endedAt ?? endTime,
      c.end === "lost",
    );
  }
  for (const c of world.clients) {
    if (c.connId === 0) continue;
    const sc = world.serverConns.get(c.connId)!;
    const lost = c.end === "lost" || sc.end === "lost";
    world.check(
      complete(up(c.connId)) || lost,
      () =>
        `c${c.connId} up is incomplete (${JSON.stringify(checker.counts(up(c.connId)))}) ` +
        `but the connection was not reported lost (client ${c.end}, server ${sc.end})`,
    );
    world.check(
      complete(down(c.connId)) || lost || c.end === "closed",
      () => `c${c.connId} down is incomplete but the connection was not reported lost`,
    );
    world.check(
      c.end !== "closed" || complete(up(c.connId)),
      `client ${c.index} reported closed with its data undelivered`,
    );
  }
  world.checkEpochDiscipline();
  return world;
}
