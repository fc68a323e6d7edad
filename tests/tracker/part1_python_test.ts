/**
 * Part 1 against real Python 3 (`python3` on PATH): Python clients using `pickle.dumps(i, p)`
 * fetch every item from our tracker and assemble the message; Python clients hit it concurrently;
 * our client fetches from the Python replica of the original (bench/tracker_replica.py); and our
 * tracker, limited to protocol 2, answers a corpus of requests byte for byte like the replica.
 */
import assert from "node:assert/strict";
import { serveTrackerPart1, type TrackerPart1Server } from "../../src/tracker/part1/server_deno.ts";
import { exchangePart1, fetchPart1 } from "../../src/tracker/part1/client_deno.ts";
import { formatDbFile } from "../../src/tracker/part1/db_file.ts";
import { Part1Db } from "../../src/tracker/part1/db.ts";
import { DEFAULT_DB } from "../../src/tracker/part1/default_db.ts";
import { startReplica } from "./_part1_replica.ts";

const HOST = "127.0.0.1";

/** A Python 3 client of the spec's algorithm (§2.5); prints the message or the error reply. */
const PY_CLIENT = String.raw`
import pickle, socket, sys
host, port, proto = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def exchange(data):
    s = socket.create_connection((host, port))
    s.sendall(data)
    reply = b""
    while True:
        chunk = s.recv(1024)
        if not chunk:
            break
        reply += chunk
    s.close()
    return reply

n = pickle.loads(exchange(b"REGISTER"))
if not isinstance(n, int):
    sys.exit("REGISTER got %r" % (n,))
words = {}
for i in range(n):
    reply = pickle.loads(exchange(pickle.dumps(i, proto)))
    if not isinstance(reply, tuple):
        sys.exit("item %d got %r" % (i, reply))
    words[reply[0]] = reply[1]
print(" ".join(words[k] for k in sorted(words)))
`;

/** 48 threads, each 20 exchanges with random requests; prints the number of correct replies. */
const PY_CONCURRENT = String.raw`
import pickle, random, socket, sys, threading
host, port = sys.argv[1], int(sys.argv[2])
expected = {i: bytes.fromhex(h) for i, h in enumerate(sys.argv[3].split(","))}
ok = []
def worker(seed):
    r = random.Random(seed)
    good = 0
    for _ in range(20):
        i = r.randrange(-16, 16)
        s = socket.create_connection((host, port))
        s.sendall(pickle.dumps(i, r.choice([0, 1, 2, 4])))
        data = b""
        while True:
            chunk = s.recv(1024)
            if not chunk:
                break
            data += chunk
        s.close()
        good += data == expected[i % 16]
    ok.append(good)
threads = [threading.Thread(target=worker, args=(n,)) for n in range(48)]
for t in threads: t.start()
for t in threads: t.join()
print(sum(ok))
`;

async function python(script: string, args: string[]): Promise<{ code: number; out: string }> {
  const r = await new Deno.Command("python3", {
    args: ["-c", script, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const td = new TextDecoder();
  return { code: r.code, out: td.decode(r.stdout) + td.decode(r.stderr) };
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

const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
const fromHex = (h: string) => Uint8Array.from(h.match(/../g) ?? [], (x) => parseInt(x, 16));

Deno.test("serveTrackerPart1() gives a Python client using pickle.dumps(i, p) the whole message", async () => {
  await withServer({}, async (server) => {
    for (const protocol of [0, 1, 2, 3, 4, 5]) {
      const r = await python(PY_CLIENT, [HOST, String(server.port), String(protocol)]);
      assert.equal(r.code, 0, `protocol ${protocol}: ${r.out}`);
      assert.equal(r.out, `${DEFAULT_DB.message}\n`, `protocol ${protocol}`);
    }
  });
});

Deno.test("serveTrackerPart1() with maxProtocol 2 answers Python 3's default protocol like the original", async () => {
  await withServer({ maxProtocol: 2 }, async (server) => {
    assert.equal((await python(PY_CLIENT, [HOST, String(server.port), "2"])).code, 0);
    const r = await python(PY_CLIENT, [HOST, String(server.port), "4"]);
    assert.notEqual(r.code, 0);
    assert.match(r.out, /item 0 got 'Bad request'/);
  });
});

Deno.test("serveTrackerPart1() serves 48 Python threads at once, every reply exact", async () => {
  await withServer({}, async (server) => {
    const expected = DEFAULT_DB.entries.map((_, i) => hex(DEFAULT_DB.itemReply(i))).join(",");
    const r = await python(PY_CONCURRENT, [HOST, String(server.port), expected]);
    assert.equal(r.code, 0, r.out);
    assert.equal(r.out.trim(), String(48 * 20));
    assert.equal(server.stats().replies.item, 48 * 20);
  });
});

Deno.test("fetchPart1() gets the message from the Python replica of the original", async () => {
  const replica = await startReplica();
  try {
    for (const protocol of [0, 1, 2] as const) {
      const result = await fetchPart1(replica.hostport, { protocol });
      assert.equal(result.message, DEFAULT_DB.message);
      assert.deepEqual(result.entries, DEFAULT_DB.entries);
    }
    const reply = await exchangePart1(replica.hostport, { type: "item", index: 16 });
    assert.deepEqual(reply, { type: "error", message: "Bad request" });
  } finally {
    await replica.stop();
  }
});

Deno.test("fetchPart1() reads a custom db from the replica, keyed by SEQNUM", async () => {
  const dir = await Deno.makeTempDir();
  const replica = await startReplica(["--db", `${dir}/db.txt`]).catch(() => undefined);
  await replica?.stop(); // no file yet: the replica refuses to start
  assert.equal(replica, undefined);
  try {
    const db = new Part1Db([
      { seq: 2, word: "gamma" },
      { seq: 0, word: "alpha" },
      { seq: 3, word: "it's" },
      { seq: 1, word: "beta" },
    ]);
    await Deno.writeTextFile(`${dir}/db.txt`, formatDbFile(db, "test"));
    const r = await startReplica(["--db", `${dir}/db.txt`]);
    try {
      const result = await fetchPart1(r.hostport);
      assert.equal(result.message, "alpha beta gamma it's");
    } finally {
      await r.stop();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Sends `request` (then ends our side) and reads the reply to EOF. */
async function raw(port: number, request: Uint8Array): Promise<string> {
  const conn = await Deno.connect({ hostname: HOST, port });
  try {
    if (request.length) await conn.write(request);
    await conn.closeWrite();
    const out: number[] = [];
    const buf = new Uint8Array(2048);
    for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
      out.push(...buf.subarray(0, n));
    }
    return hex(Uint8Array.from(out));
  } finally {
    conn.close();
  }
}

Deno.test("serveTrackerPart1() with maxProtocol 2 answers a request corpus exactly like the replica", async () => {
  const vectors = Deno.readTextFileSync(new URL("../fixtures/pickle.jsonl", import.meta.url))
    .split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l) as { hex: string })
    .map((v) => fromHex(v.hex)).filter((b) => b.length <= 1024);
  const te = new TextEncoder();
  const hand = [
    "REGISTER",
    "REGISTER\n",
    "register",
    "",
    "I5\n.trailing",
    "I-16\n.",
    "I-17\n.",
    "I01\n.",
    "L15L\n.",
    "F3.0\n.",
    "S'3'\np0\n.",
    "c__builtin__\nlen\n(S'abc'\ntR.",
  ].map((s) => te.encode(s));
  const corpus = [...hand, ...vectors];
  assert.ok(corpus.length > 300);
  const replica = await startReplica();
  try {
    await withServer({ maxProtocol: 2 }, async (server) => {
      const mismatches: string[] = [];
      for (const request of corpus) {
        const [ours, theirs] = [await raw(server.port, request), await raw(replica.port, request)];
        if (ours !== theirs) mismatches.push(`${hex(request)}: ours ${ours}, replica ${theirs}`);
      }
      assert.deepEqual(mismatches, []);
    });
  } finally {
    await replica.stop();
  }
});
