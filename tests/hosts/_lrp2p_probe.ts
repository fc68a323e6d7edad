/**
 * One LRP2P end run inside a host of a lab (`deno run --allow-net _lrp2p_probe.ts JOB`), for
 * tests/hosts/lrp2p_test.ts. JOB is one JSON object; the probe prints `listening` (server) and then
 * one JSON line with what it checked.
 *
 * - `{"role":"serve","port":P,"conns":n,"down":bytes}`: binds 0.0.0.0:P, accepts `n`
 *   connections; on each, reads the client's stream to its end while writing `down` bytes of
 *   `pattern(down, low 16 bits of the connId)` back, then closes. Prints
 *   `{"conns":[{"seed","got","ok","error"}...],"drops"}` where `ok` means the bytes read equal the
 *   pattern of the seed the client sent in its first 4 bytes.
 * - `{"role":"connect","host":H,"port":P,"seed":s,"up":bytes,"down":bytes}`: connects, writes
 *   4 bytes (the seed, BE) and `pattern(up, seed)`, reads everything back and checks it equals
 *   `pattern(down, low 16 bits of the connId)`. Prints `{"got","ok","ms","retransmits","error"}`.
 *
 * @module
 */
import { socketListen } from "../../src/lrp2p/socket_deno.ts";
import { pattern, readAll, sameBytes } from "../lrp2p/_live.ts";

type Job =
  | { role: "serve"; port: number; conns: number; down: number }
  | { role: "connect"; host: string; port: number; seed: number; up: number; down: number };

const job = JSON.parse(Deno.args[0]) as Job;

/** Checks a client's stream: its 4-byte seed, then `pattern(n, seed)`. */
function check(got: Uint8Array) {
  if (got.length < 4) return { seed: -1, got: got.length, ok: false };
  const seed = new DataView(got.buffer, got.byteOffset).getUint32(0);
  return {
    seed,
    got: got.length - 4,
    ok: sameBytes(got.subarray(4), pattern(got.length - 4, seed)),
  };
}

if (job.role === "serve") {
  const socket = await socketListen("0.0.0.0", job.port, {});
  console.log("listening");
  const results = await Promise.all(
    Array.from({ length: job.conns }, async () => {
      const conn = await socket.accept();
      // write and read at once: the reply is a pattern of the connection's own id
      const reply = pattern(job.down, Number(conn.connId & 0xffffn));
      const [got] = await Promise.all([readAll(conn), conn.write(reply).then(() => conn.close())]);
      const r = check(got);
      return { ...r, replySeed: Number(conn.connId & 0xffffn), error: conn.error ?? null };
    }),
  );
  console.log(JSON.stringify({ conns: results, drops: socket.stats.drops }));
  await socket.close();
} else {
  const socket = await socketListen("0.0.0.0", 0, {});
  const started = performance.now();
  const conn = await socket.connectTo(job.host, job.port, { timeoutMs: 30_000 });
  const seed = new Uint8Array(4);
  new DataView(seed.buffer).setUint32(0, job.seed);
  const up = pattern(job.up, job.seed);
  let retransmits: number | null = null;
  const sample = setInterval(() => {
    retransmits = socket._endpoint.conn(conn.connId)?.arq?.retransmits ?? retransmits;
  }, 50);
  const [got] = await Promise.all([
    readAll(conn),
    (async () => {
      await conn.write(seed);
      await conn.write(up);
      await conn.close();
    })(),
  ]);
  clearInterval(sample);
  const expect = pattern(job.down, Number(conn.connId & 0xffffn));
  console.log(JSON.stringify({
    got: got.length,
    ok: sameBytes(got, expect),
    ms: Math.round(performance.now() - started),
    retransmits,
    error: conn.error ?? null,
  }));
  await socket.close();
}
