/**
 * The receiving end of `lrp2p_bench.ts`'s cross-process runs, in a process of its own (its own
 * core): `udp` counts raw datagrams until one of 1 byte (the end) or 300 ms of silence; `ack` does
 * the same and answers every datagram with a 46-byte one (the size of an LRP2P ACK datagram) to its
 * source, the datagram pattern of LRP2P's receiver without its crypto and bookkeeping; `lrp2p`
 * accepts one LRP2P connection and reads it to the end. It prints its port on the first line of
 * stdout, then, when done, `<bytes> <ms>` (the time from the first byte to the last).
 *
 * @module
 */
import { socketListen } from "../src/lrp2p/socket_deno.ts";

const mode = Deno.args[0];
const out = (line: string) => Deno.stdout.writeSync(new TextEncoder().encode(line + "\n"));

if (mode === "udp" || mode === "ack") {
  const answer = mode === "ack";
  const ack = new Uint8Array(46);
  const rx = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  out(String((rx.addr as Deno.NetAddr).port));
  const buf = new Uint8Array(2048);
  let bytes = 0, first = 0, last = 0;
  // one timer for the silence, not one per datagram (that would be the receiver's bottleneck)
  const idle = setInterval(() => {
    if (bytes > 0 && performance.now() - last > 300) rx.close();
  }, 100);
  for (;;) {
    let d: Uint8Array, addr: Deno.Addr;
    try {
      [d, addr] = await rx.receive(buf);
    } catch {
      break; // closed after the silence
    }
    if (d.length === 1) break;
    if (bytes === 0) first = performance.now();
    bytes += d.length;
    last = performance.now();
    if (answer) rx.send(ack, addr).catch(() => {}); // paced by the sender's window
  }
  clearInterval(idle);
  out(`${bytes} ${last - first}`);
  try {
    rx.close();
  } catch {
    // closed after the silence
  }
} else if (mode === "lrp2p") {
  const server = await socketListen("127.0.0.1", 0, {
    endpoint: { timings: { closeMs: 3000, lingerMs: 100 } },
  });
  out(String(server.addr.port));
  const conn = await server.accept();
  const buf = new Uint8Array(65536);
  let bytes = 0, first = 0;
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) break;
    if (bytes === 0) first = performance.now();
    bytes += n;
  }
  out(`${bytes} ${performance.now() - first}`);
  await conn.close();
  await server.close();
} else {
  console.error("usage: _lrp2p_receiver.ts udp|ack|lrp2p");
  Deno.exit(2);
}
