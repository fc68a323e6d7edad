/**
 * 100,000 fuzz inputs at a live node: 90,000 datagrams on its UDP port and 10,000 TCP messages
 * (one connection each). The split follows the cost: a datagram costs a send, a TCP message a
 * whole connect–write–close, about ten times more on loopback, and the TCP side reads with the
 * same decoder as the UDP side plus the completeness scanner, which 10,000 messages of every
 * shape (split across writes by the kernel or not) exercise well. Inputs: random bytes of 0 to
 * 1,500 bytes (a few up to 65,507), valid messages with random fields, byte-mutated valid ones,
 * truncated ones (see `_fuzz_gen.ts`; seeded, the seed is printed). Afterwards the node still
 * answers correctly, its member table is bounded, and the connections it holds drain.
 */
import assert from "node:assert/strict";
import { Prng } from "../../src/util/prng.ts";
import { draw, type FuzzKind } from "./_fuzz_gen.ts";
import { closedPort, exchange, startKv, TcpPeer, UdpProbe, until } from "./_live.ts";

const DATAGRAMS = 90_000;
const TCP_MESSAGES = 10_000;
const TCP_PARALLEL = 32;

/** Sends one TCP fuzz message: write, end our side, read until the node closes. */
async function tcpFuzz(port: number, bytes: Uint8Array): Promise<boolean> {
  let conn: Deno.TcpConn;
  try {
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
  } catch {
    return false; // refused by the kernel: allowed
  }
  const timer = setTimeout(() => conn.close(), 15_000);
  try {
    if (bytes.length > 0) await conn.write(bytes);
    await conn.closeWrite();
    const buf = new Uint8Array(4096);
    while ((await conn.read(buf)) !== null) { /* the reply, if any */ }
  } catch {
    // reset by the node (over its cap)
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed by the timer */ }
  }
  return true;
}

Deno.test("100,000 fuzz datagrams and TCP messages: the node keeps serving, bounded", async () => {
  const seed = Number(Deno.env.get("KV_FUZZ_SEED") ?? Date.now() % 2 ** 31);
  console.log(`seed ${seed} (KV_FUZZ_SEED=${seed} replays it)`);
  const p = Prng.seeded(seed);
  const sink = new TcpPeer();
  const ports = [sink.port, closedPort()];
  const kv = await startKv();
  const sender = new UdpProbe();
  const counts: Record<FuzzKind, number> = {
    random: 0,
    big: 0,
    valid: 0,
    mutated: 0,
    truncated: 0,
  };
  const t0 = Date.now();
  try {
    for (let i = 0; i < DATAGRAMS; i++) {
      const { kind, bytes } = draw(p, ports);
      counts[kind]++;
      await sender.send(kv.udpPort, bytes);
      if (i % 128 === 127) {
        // let the node catch up (while it makes progress) so the kernel drops few of them
        for (let seen = -1; seen !== kv.node.stats.datagramsIn;) {
          seen = kv.node.stats.datagramsIn;
          await new Promise((r) => setTimeout(r, 1));
        }
      }
    }
    const udpMs = Date.now() - t0;
    let next = 0, connected = 0;
    const worker = async () => {
      while (next < TCP_MESSAGES) {
        next++;
        const { kind, bytes } = draw(p, ports, false);
        counts[kind]++;
        if (await tcpFuzz(kv.tcpPort, bytes)) connected++;
      }
    };
    await Promise.all(Array.from({ length: TCP_PARALLEL }, worker));
    console.log(
      `sent ${JSON.stringify(counts)} (udp ${udpMs} ms, tcp ${
        Date.now() - t0 - udpMs
      } ms); the node took ${kv.node.stats.datagramsIn} datagrams, ` +
        `${kv.node.stats.requests} requests (${kv.node.stats.requestsDropped} dropped, ` +
        `${kv.node.stats.refused} refused), ${kv.node.members().length} members`,
    );
    const { datagramsIn, requests, requestsDropped, refused } = kv.node.stats;
    assert.ok(datagramsIn >= DATAGRAMS * 0.9, "most datagrams reached the node");
    assert.ok(connected >= TCP_MESSAGES * 0.99, `${connected} connections`);
    // every connection was answered, dropped or refused (a refusal may count twice), none hangs
    assert.ok(requests + requestsDropped + refused >= connected);

    // still serving, correctly
    assert.equal((await exchange(kv.tcpPort, '"Heartbeat"')).reply, '"HeartbeatResponse"');
    const set = await exchange(kv.tcpPort, '{"Setvalue":{"key":"after fuzz","value":"ok"}}');
    assert.equal(set.reply, '{"ValueResponse":{"value":"Value set successful"}}');
    const e = kv.node.get("after fuzz")!;
    assert.equal(e.origin, kv.name);
    assert.equal(
      (await exchange(kv.tcpPort, '{"Getvalue":{"key":"after fuzz"}}')).reply,
      `{"ValueResponse":{"value":"ok","clock":${e.clock},"origin":"${kv.name}"}}`,
    );
    // still reading its UDP port (a new identity may find the table full: no Greeting then)
    const seen = kv.node.stats.datagramsIn;
    await sender.send(kv.udpPort, '"Greeting"');
    await until(() => kv.node.stats.datagramsIn > seen, "a datagram after the fuzz");

    // bounded
    assert.ok(kv.node.members().length <= 1024, `${kv.node.members().length} members`);
    // requests drain; what stays is the node's own bounded outgoing work (the fuzz left up to
    // 1,024 members to heartbeat): at most 64 heartbeats, 8 pushes and 4 pulls at once
    await until(() => kv.node.connections <= 64 + 8 + 4, "connections to drain", 30_000);
  } finally {
    await sender.close();
    await kv.stop();
    await sink.close();
  }
});
