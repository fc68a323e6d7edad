/**
 * The Part 1 tracker on real sockets (127.0.0.1, free ports): many concurrent clients, a silent
 * client timing out while others are served, garbage and resets that do not stop it, the
 * connection limit, a restart on the same port with connections in TIME_WAIT (defect F2), a reply
 * delivered although the client sends more than it should, and a clean stop.
 */
import assert from "node:assert/strict";
import {
  type Part1Exchange,
  serveTrackerPart1,
  type TrackerPart1Server,
} from "../../src/tracker/part1/server_deno.ts";
import { exchangePart1, fetchPart1 } from "../../src/tracker/part1/client_deno.ts";
import { answerRequest } from "../../src/tracker/part1/answer.ts";
import { encodeReply, ERROR_REPLY, type Part1Query } from "../../src/tracker/part1/wire.ts";
import { DEFAULT_DB } from "../../src/tracker/part1/default_db.ts";
import { ServiceStartError } from "../../src/node/service.ts";

const HOST = "127.0.0.1";
const td = new TextDecoder("latin1");
const te = new TextEncoder();

/** Connects, writes `bytes`, reads until the tracker closes; returns what it sent. */
async function rawExchange(port: number, bytes: Uint8Array): Promise<Uint8Array> {
  const conn = await Deno.connect({ hostname: HOST, port });
  try {
    if (bytes.length) await conn.write(bytes);
    const chunks: number[] = [];
    const buf = new Uint8Array(4096);
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      chunks.push(...buf.subarray(0, n));
    }
    return Uint8Array.from(chunks);
  } finally {
    conn.close();
  }
}

async function withServer(
  options: Parameters<typeof serveTrackerPart1>[0],
  body: (server: TrackerPart1Server) => Promise<void>,
): Promise<void> {
  const server = serveTrackerPart1({ hostname: HOST, port: 0, ...options });
  try {
    await body(server);
  } finally {
    await server.close();
  }
}

/**
 * Asks python3 (Deno reads /proc only with --allow-all) how many local sockets on `port` are in
 * TIME_WAIT (state 06 of /proc/net/tcp), and whether a listener without SO_REUSEADDR, which is
 * what the original creates, can bind the port now.
 */
async function probePort(port: number): Promise<{ timeWait: number; plainBind: string }> {
  const script = `
import socket, sys
port = int(sys.argv[1])
tw = 0
for line in open("/proc/net/tcp").read().splitlines()[1:]:
    f = line.split()
    if int(f[1].split(":")[1], 16) == port and f[3] == "06":
        tw += 1
s = socket.socket()
try:
    s.bind(("127.0.0.1", port))
    bound = "ok"
except OSError as e:
    bound = "in use" if e.errno == 98 else str(e)
finally:
    s.close()
print(tw, bound)
`;
  const out = await new Deno.Command("python3", { args: ["-c", script, String(port)] }).output();
  const [tw, ...rest] = new TextDecoder().decode(out.stdout).trim().split(" ");
  return { timeWait: Number(tw), plainBind: rest.join(" ") };
}

Deno.test("serveTrackerPart1() serves 64 concurrent clients, each its exact reply", async () => {
  const exchanges: Part1Exchange[] = [];
  await withServer({ onExchange: (e) => exchanges.push(e) }, async (server) => {
    const queries: Part1Query[] = Array.from(
      { length: 64 },
      (_, i) => i % 8 === 0 ? { type: "size" } : { type: "item", index: (i % 40) - 20 },
    );
    const replies = await Promise.all(
      queries.map((q, i) =>
        exchangePart1(`${HOST}:${server.port}`, q, { protocol: (i % 3) as 0 | 1 | 2 })
      ),
    );
    replies.forEach((reply, i) => {
      assert.deepEqual(reply, answerRequest(DEFAULT_DB, queries[i]), JSON.stringify(queries[i]));
    });
    const s = server.stats();
    assert.equal(s.accepted, 64);
    assert.equal(s.replies.size + s.replies.item + s.replies.error, 64);
    assert.equal(s.replies.size, 8);
    assert.equal(s.failed, 0);
  });
  assert.equal(exchanges.length, 64);
  assert.ok(exchanges.every((e) => e.written && e.remote.startsWith("127.0.0.1:")));
});

Deno.test("serveTrackerPart1() serves others while a silent client waits for its timeout", async () => {
  await withServer({ requestTimeoutMs: 800 }, async (server) => {
    const t0 = performance.now();
    const silent = rawExchange(server.port, new Uint8Array()).then((bytes) => ({
      bytes,
      ms: performance.now() - t0,
    }));
    const slow = rawExchange(server.port, te.encode("REGIS")).then((bytes) => ({
      bytes,
      ms: performance.now() - t0,
    }));
    await new Promise((r) => setTimeout(r, 50));
    const fetched = await fetchPart1(`${HOST}:${server.port}`, { protocol: 2 });
    const fetchMs = performance.now() - t0;
    assert.equal(fetched.message, DEFAULT_DB.message);
    assert.ok(
      fetchMs < 800,
      `the fetch took ${fetchMs.toFixed(0)} ms: it waited for the silent one`,
    );
    for (const client of [await silent, await slow]) {
      assert.deepEqual(client.bytes, ERROR_REPLY);
      assert.ok(client.ms >= 750 && client.ms < 3000, `answered after ${client.ms.toFixed(0)} ms`);
    }
    assert.equal(server.stats().invalid.timeout, 2);
  });
});

Deno.test("serveTrackerPart1() keeps serving after garbage, floods, resets and empty connections", async () => {
  await withServer({ requestTimeoutMs: 2000 }, async (server) => {
    const garbage = [
      "c__builtin__\nlen\n(S'abc'\ntR.", // F3: runs code in the original
      "cos\nsystem\n(S'echo pwned'\ntR.",
      "REGISTER\n",
      "\x80\x05\x95\xff\xff\xff\xff\xff\xff\xff\xff.",
      "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
      "F1.5\n.",
      "I99\n.",
    ];
    for (const g of garbage) {
      const reply = await rawExchange(server.port, Uint8Array.from(g, (c) => c.charCodeAt(0)));
      assert.deepEqual(reply, ERROR_REPLY, JSON.stringify(g));
    }
    // A flood far beyond the size cap: refused with the error reply.
    assert.deepEqual(
      await rawExchange(server.port, new Uint8Array(200_000).fill(0x28)),
      ERROR_REPLY,
    );
    // Connect and close at once (the original answers an empty read; F1 kills Part 2's).
    for (let i = 0; i < 5; i++) (await Deno.connect({ hostname: HOST, port: server.port })).close();
    // Close without reading the reply: the client's kernel resets the connection.
    for (let i = 0; i < 5; i++) {
      const c = await Deno.connect({ hostname: HOST, port: server.port });
      await c.write(te.encode("REGISTER"));
      await new Promise((r) => setTimeout(r, 20));
      c.close();
    }
    await new Promise((r) => setTimeout(r, 100));
    const reply = await exchangePart1(`${HOST}:${server.port}`, { type: "size" });
    assert.deepEqual(reply, { type: "size", count: 16 });
    const s = server.stats();
    assert.ok(
      s.invalid.pickle >= 3 && s.invalid.raw >= 1 && s.invalid.type >= 1,
      JSON.stringify(s),
    );
    assert.equal(s.invalid["too-large"], 1);
    assert.equal(s.acceptErrors, 0);
  });
});

Deno.test("serveTrackerPart1() delivers the reply when the client sends more than one request", async () => {
  await withServer({}, async (server) => {
    const junk = new Uint8Array(32 * 1024).fill(0x41);
    const request = new Uint8Array([...te.encode("I5\n."), ...junk]);
    for (let i = 0; i < 5; i++) {
      const reply = await rawExchange(server.port, request);
      assert.equal(td.decode(reply), td.decode(DEFAULT_DB.itemReply(5)));
    }
  });
});

Deno.test("serveTrackerPart1() serves at most maxConnections at once; others wait for a slot", async () => {
  await withServer({ maxConnections: 2, requestTimeoutMs: 600, lingerMs: 0 }, async (server) => {
    const t0 = performance.now();
    const hogs = [
      rawExchange(server.port, new Uint8Array()),
      rawExchange(server.port, new Uint8Array()),
    ];
    await new Promise((r) => setTimeout(r, 100));
    const reply = await exchangePart1(`${HOST}:${server.port}`, { type: "size" });
    const ms = performance.now() - t0;
    assert.deepEqual(reply, { type: "size", count: 16 });
    assert.ok(ms >= 550, `served after ${ms.toFixed(0)} ms, before a slot was free`);
    for (const hog of await Promise.all(hogs)) assert.deepEqual(hog, ERROR_REPLY);
  });
});

Deno.test("serveTrackerPart1() closes a connection over maxConnections + maxWaiting at once", async () => {
  const exchanges: Part1Exchange[] = [];
  await withServer(
    { maxConnections: 1, maxWaiting: 0, lingerMs: 0, onExchange: (e) => exchanges.push(e) },
    async (server) => {
      const hog = await Deno.connect({ hostname: HOST, port: server.port });
      try {
        await new Promise((r) => setTimeout(r, 50));
        // Closed unread, before it sends anything (bytes unread at the close would reset it).
        assert.deepEqual(await rawExchange(server.port, new Uint8Array()), new Uint8Array());
        assert.equal(server.stats().refused, 1);
        await hog.write(te.encode("REGISTER"));
        const buf = new Uint8Array(64);
        assert.equal(td.decode(buf.subarray(0, (await hog.read(buf)) ?? 0)), "I16\n.");
      } finally {
        hog.close();
      }
      const s = server.stats();
      assert.deepEqual([s.accepted, s.refused, s.replies.size], [1, 1, 1]);
    },
  );
  assert.deepEqual(exchanges.map((e) => [e.request.type, e.written]), [["size", true]]);
});

Deno.test("serveTrackerPart1() restarts at once on its port with connections in TIME_WAIT", async () => {
  const first = serveTrackerPart1({ hostname: HOST, port: 0 });
  const port = first.port;
  for (let i = 0; i < 5; i++) {
    assert.deepEqual(await rawExchange(port, te.encode("REGISTER")), te.encode("I16\n."));
  }
  await first.close();
  // The tracker ends each connection first, so its side of each sits in TIME_WAIT now, and a
  // listener without SO_REUSEADDR (the original's) cannot bind the port: defect F2.
  const probe = await probePort(port);
  assert.ok(probe.timeWait >= 1, "no connection in TIME_WAIT: the test would prove nothing");
  assert.equal(probe.plainBind, "in use");
  const second = serveTrackerPart1({ hostname: HOST, port });
  try {
    assert.equal(second.port, port);
    assert.deepEqual(await rawExchange(port, te.encode("REGISTER")), te.encode("I16\n."));
  } finally {
    await second.close();
  }
});

Deno.test("serveTrackerPart1() throws ServiceStartError when the port is taken", () => {
  const taken = Deno.listen({ hostname: HOST, port: 0 });
  try {
    assert.throws(
      () => serveTrackerPart1({ hostname: HOST, port: taken.addr.port }),
      (err: Error) => {
        assert.ok(err instanceof ServiceStartError);
        assert.match(
          err.message,
          /^tracker: cannot listen on tcp 127\.0\.0\.1:\d+: address already in use/,
        );
        return true;
      },
    );
    assert.throws(() => serveTrackerPart1({ port: 0, maxConnections: 0 }), RangeError);
    assert.throws(() => serveTrackerPart1({ port: 0, maxProtocol: 9 }), RangeError);
  } finally {
    taken.close();
  }
});

Deno.test("serveTrackerPart1() stops on abort: listener and open connections close", async () => {
  const controller = new AbortController();
  const server = serveTrackerPart1({ hostname: HOST, port: 0, signal: controller.signal });
  const hanging = rawExchange(server.port, te.encode("REGIS"));
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(server.stats().active, 1);
  const t0 = performance.now();
  controller.abort();
  await server.done;
  assert.ok(performance.now() - t0 < 500);
  assert.deepEqual(await hanging, new Uint8Array()); // cut without a reply
  const again = Deno.listen({ hostname: HOST, port: server.port });
  again.close();
  await server.close(); // idempotent
  const preAborted = serveTrackerPart1({ hostname: HOST, port: 0, signal: AbortSignal.abort() });
  await preAborted.done;
});

Deno.test("serveTrackerPart1() replies byte for byte like the original for each request", async () => {
  await withServer({}, async (server) => {
    const cases: [Uint8Array, Uint8Array][] = [
      [te.encode("REGISTER"), te.encode("I16\n.")],
      [
        Uint8Array.of(0x49, 0x30, 0x0a, 0x2e),
        encodeReply({ type: "item", entry: DEFAULT_DB.at(0)! }),
      ],
      [Uint8Array.of(0x80, 2, 0x4a, 0xff, 0xff, 0xff, 0xff, 0x2e), DEFAULT_DB.itemReply(15)],
      [Uint8Array.of(0x80, 4, 0x4b, 3, 0x2e), DEFAULT_DB.itemReply(3)],
      [te.encode("I16\n."), ERROR_REPLY],
    ];
    for (const [request, expected] of cases) {
      assert.equal(td.decode(await rawExchange(server.port, request)), td.decode(expected));
    }
  });
});

Deno.test("serveTrackerPart1() serves the entry Python 2 reads from INT and LONG lines", async () => {
  // The original runs Python 2's pickle.loads: LONG is long(line, 0), INT is int() then long(),
  // STOP returns the top of the stack (issue 9; cases in pickle_py2_text_test.ts).
  await withServer({}, async (server) => {
    const cases: [string, Uint8Array][] = [
      ["L010\n.", DEFAULT_DB.itemReply(8)],
      ["L010L\n.", DEFAULT_DB.itemReply(8)],
      ["L0x3\n.", DEFAULT_DB.itemReply(3)],
      ["L-0x1\n.", DEFAULT_DB.itemReply(15)],
      ["I010\n.", DEFAULT_DB.itemReply(10)],
      ["I 5\n.", DEFAULT_DB.itemReply(5)],
      ["I+3\n.", DEFAULT_DB.itemReply(3)],
      ["I5\r\n.", DEFAULT_DB.itemReply(5)],
      ["I5L\n.", DEFAULT_DB.itemReply(5)],
      ["NI5\n.", DEFAULT_DB.itemReply(5)],
      ["L09\n.", ERROR_REPLY],
      ["I0x3\n.", ERROR_REPLY],
    ];
    for (const [request, expected] of cases) {
      const reply = await rawExchange(server.port, te.encode(request));
      assert.equal(td.decode(reply), td.decode(expected), JSON.stringify(request));
    }
  });
});
