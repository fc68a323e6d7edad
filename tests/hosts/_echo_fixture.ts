/**
 * A tiny TCP/UDP echo tool for the several-hosts smoke test: bitclone has no command for a raw
 * exchange yet. Run it with
 * `deno run --no-config --unstable-net --allow-net tests/hosts/_echo_fixture.ts <mode> ...`:
 *
 * - `serve --port P`: echoes TCP bytes and UDP datagrams on 0.0.0.0:P; prints `listening P`
 *   once both sockets are bound, then runs until killed.
 * - `tcp HOST:PORT MSG [--timeout-ms 3000]`: connects, sends MSG, prints the echo.
 * - `udp HOST:PORT MSG [--timeout-ms 2000] [--tries 4]`: sends MSG (again each
 *   timeout/tries ms), prints the first echo.
 * - `udp-send HOST:PORT COUNT`: sends COUNT small datagrams one way, paced; prints `sent COUNT`.
 * - `udp-count --port P [--idle-ms 500] [--max-ms 10000]`: prints `listening P`, counts
 *   datagrams until none came for idle ms after the first one (or max ms in all), prints
 *   `received N`.
 *
 * Exit codes: 0 done (the echo matched), 1 refused or wrong echo, 2 timed out, 64 usage.
 *
 * @module
 */

const USAGE = "usage: _echo_fixture.ts serve --port P | tcp HOST:PORT MSG [--timeout-ms N] | " +
  "udp HOST:PORT MSG [--timeout-ms N] [--tries N] | udp-send HOST:PORT COUNT | " +
  "udp-count --port P [--idle-ms N] [--max-ms N]";
const MAX_DATAGRAMS = 100_000;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

class UsageError extends Error {
  override name = "UsageError";
}

function flag(args: readonly string[], name: string, fallback?: number): number {
  const at = args.indexOf(name);
  if (at < 0) {
    if (fallback === undefined) throw new UsageError(`missing ${name}`);
    return fallback;
  }
  const value = Number(args[at + 1]);
  if (!Number.isInteger(value) || value < 0) throw new UsageError(`bad ${name}: ${args[at + 1]}`);
  return value;
}

function count(text: string | undefined): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0 || value > MAX_DATAGRAMS) {
    throw new UsageError(`bad COUNT: ${text}`);
  }
  return value;
}

function target(text: string | undefined): { hostname: string; port: number } {
  const match = /^(.+):(\d+)$/.exec(text ?? "");
  if (!match) throw new UsageError(`bad HOST:PORT: ${text}`);
  return { hostname: match[1], port: Number(match[2]) };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
}

async function echoTcp(conn: Deno.Conn): Promise<void> {
  const buf = new Uint8Array(64 * 1024);
  try {
    for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
      await writeAll(conn, buf.subarray(0, n));
    }
  } catch {
    // Peer reset: nothing to echo any more.
  } finally {
    conn.close();
  }
}

async function serve(port: number): Promise<number> {
  const listener = Deno.listen({ transport: "tcp", hostname: "0.0.0.0", port });
  const udp = Deno.listenDatagram({ transport: "udp", hostname: "0.0.0.0", port });
  console.log(`listening ${port}`);
  const tcpLoop = (async () => {
    for await (const conn of listener) void echoTcp(conn);
  })();
  const udpLoop = (async () => {
    for (;;) {
      const [data, from] = await udp.receive();
      await udp.send(data, from).catch(() => {}); // a failed send is a lost packet
    }
  })();
  await Promise.race([tcpLoop, udpLoop]);
  return 1;
}

async function tcp(to: string, message: string): Promise<number> {
  let conn: Deno.TcpConn;
  try {
    conn = await Deno.connect({ transport: "tcp", ...target(to) });
  } catch (err) {
    if (err instanceof UsageError) throw err;
    console.error(`tcp: cannot connect to ${to}: ${err instanceof Error ? err.message : err}`);
    return 1;
  }
  const sent = encoder.encode(message);
  await writeAll(conn, sent);
  const got = new Uint8Array(sent.length);
  let length = 0;
  while (length < sent.length) {
    const n = await conn.read(got.subarray(length));
    if (n === null) break;
    length += n;
  }
  conn.close();
  const echo = decoder.decode(got.subarray(0, length));
  console.log(echo);
  return echo === message ? 0 : 1;
}

async function udp(to: string, message: string, timeoutMs: number, tries: number): Promise<number> {
  const dest: Deno.NetAddr = { transport: "udp", ...target(to) };
  const sock = Deno.listenDatagram({ transport: "udp", hostname: "0.0.0.0", port: 0 });
  const echoed = (async () => {
    for (let i = 0; i < MAX_DATAGRAMS; i++) {
      try {
        const [data] = await sock.receive();
        if (decoder.decode(data) === message) return true;
      } catch (err) {
        if (err instanceof Deno.errors.BadResource) return false;
      }
    }
    return false;
  })();
  let got = false;
  for (let i = 0; i < Math.max(1, tries) && !got; i++) {
    await sock.send(encoder.encode(message), dest).catch(() => {});
    got = await Promise.race([echoed, sleep(timeoutMs / Math.max(1, tries)).then(() => false)]);
  }
  sock.close();
  if (!got) {
    console.error(`udp: no echo from ${to} within ${timeoutMs} ms`);
    return 2;
  }
  console.log(message);
  return 0;
}

async function udpSend(to: string, count: number): Promise<number> {
  const dest: Deno.NetAddr = { transport: "udp", ...target(to) };
  const sock = Deno.listenDatagram({ transport: "udp", hostname: "0.0.0.0", port: 0 });
  for (let i = 0; i < count; i++) {
    await sock.send(encoder.encode(`d${i}`), dest).catch(() => {});
    if (i % 20 === 19) await sleep(1); // pace: never overrun the receiver's socket buffer
  }
  sock.close();
  console.log(`sent ${count}`);
  return 0;
}

async function udpCount(port: number, idleMs: number, maxMs: number): Promise<number> {
  const sock = Deno.listenDatagram({ transport: "udp", hostname: "0.0.0.0", port });
  console.log(`listening ${port}`);
  let idle: ReturnType<typeof setTimeout> | undefined;
  const max = setTimeout(() => sock.close(), maxMs);
  let received = 0;
  for (; received < MAX_DATAGRAMS; received++) {
    try {
      await sock.receive();
    } catch {
      break; // closed by a timer
    }
    clearTimeout(idle);
    idle = setTimeout(() => sock.close(), idleMs);
  }
  clearTimeout(idle);
  clearTimeout(max);
  console.log(`received ${received}`);
  return 0;
}

/**
 * Runs one mode of the fixture (see the module doc) and resolves with the exit code.
 *
 * @param args The command line, mode first.
 * @returns The exit code.
 *
 * @example Echo over UDP
 * ```ts ignore
 * import { main } from "./_echo_fixture.ts";
 * const code = await main(["udp", "10.213.1.2:7000", "hello"]);
 * ```
 */
export async function main(args: readonly string[]): Promise<number> {
  const [mode, ...rest] = args;
  let watchdog: ReturnType<typeof setTimeout> | undefined;
  const deadline = (ms: number) =>
    watchdog = setTimeout(() => {
      console.error(`${mode}: timed out after ${ms} ms`);
      Deno.exit(2);
    }, ms);
  try {
    switch (mode) {
      case "serve":
        return await serve(flag(rest, "--port"));
      case "tcp":
        deadline(flag(rest, "--timeout-ms", 3_000));
        return await tcp(rest[0], rest[1] ?? "");
      case "udp":
        return await udp(
          rest[0],
          rest[1] ?? "",
          flag(rest, "--timeout-ms", 2_000),
          flag(rest, "--tries", 4),
        );
      case "udp-send":
        deadline(10_000);
        return await udpSend(rest[0], count(rest[1]));
      case "udp-count":
        return await udpCount(
          flag(rest, "--port"),
          flag(rest, "--idle-ms", 500),
          flag(rest, "--max-ms", 10_000),
        );
      default:
        throw new UsageError(`unknown mode: ${mode}`);
    }
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`${err.message}\n${USAGE}`);
    return 64;
  } finally {
    clearTimeout(watchdog);
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
