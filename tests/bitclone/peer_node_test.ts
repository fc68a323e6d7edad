/**
 * Scripted tests of the node core: a PeerNode driven by hand through its contract, each remote
 * peer a real PeerConn whose lines are passed back and forth.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { parsePeerAddress, type PeerAddress } from "../../src/bitclone/address.ts";
import { PeerConn, type PeerConnOptions, type PeerEvent } from "../../src/bitclone/peer_conn.ts";
import {
  PeerNode,
  type PeerNodeAction,
  type PeerNodeOptions,
} from "../../src/bitclone/peer_node.ts";
import type { ConnId } from "../../src/core/mod.ts";
import { parsePeersFile } from "../../src/bitclone/peers_file.ts";
import { Prng } from "../../src/util/prng.ts";

const UNIX_MS = 1_700_000_000_000;
const NOW_SEC = 1_700_000_000;
const NODE_IP = "10.0.0.1";
const NODE_LISTEN = `${NODE_IP}:8333`;
const td = new TextDecoder();

type DialAction = Extract<PeerNodeAction, { type: "connect" }>;

interface Remote {
  readonly conn: PeerConn;
  readonly events: PeerEvent[];
}

function addr(text: string): PeerAddress {
  const a = parsePeerAddress(text);
  assert.ok(a !== undefined, text);
  return a;
}

/** A node plus scripted remote peers, lines passed by hand. */
class Lab {
  readonly node: PeerNode;
  now = 0;
  readonly remotes = new Map<ConnId, Remote>();
  readonly actions: PeerNodeAction[] = [];
  readonly closes = new Map<ConnId, string>();
  readonly lines = new Map<ConnId, string[]>();
  #ephemeral = 50_000;

  constructor(options: Partial<PeerNodeOptions> = {}) {
    this.node = new PeerNode({
      prng: Prng.seeded(1),
      now: 0,
      listenPort: 8333,
      unixMillisOffset: UNIX_MS,
      versionReplyDelayMs: 0,
      ...options,
    });
    this.settle();
  }

  /** Passes lines and closes both ways until quiet. */
  settle(): void {
    for (let round = 0; round < 1000; round++) {
      let progress = false;
      for (let a = this.node.pollAction(); a !== undefined; a = this.node.pollAction()) {
        progress = true;
        this.actions.push(a);
        if (a.type === "write") {
          assert.ok(!this.closes.has(a.conn), `send after close on ${a.conn}`);
          const text = td.decode(a.bytes);
          assert.ok(text.endsWith("\r\n"));
          const list = this.lines.get(a.conn) ?? [];
          list.push(...text.slice(0, -2).split("\r\n"));
          this.lines.set(a.conn, list);
          this.remotes.get(a.conn)?.conn.receiveData(a.bytes, this.now);
        } else if (a.type === "close") {
          this.closes.set(a.conn, a.reason);
          this.remotes.get(a.conn)?.conn.receiveEof(this.now);
        }
      }
      for (const [key, r] of this.remotes) {
        for (let b = r.conn.pollTransmit(); b !== undefined; b = r.conn.pollTransmit()) {
          progress = true;
          if (!this.closes.has(key)) this.node.handleData(key, b, this.now);
        }
        for (let e = r.conn.pollEvent(); e !== undefined; e = r.conn.pollEvent()) {
          progress = true;
          r.events.push(e);
          if (e.type === "closed" && !this.closes.has(key)) this.node.handleEof(key, this.now);
        }
      }
      if (!progress) return;
    }
    throw new Error("the lab does not settle");
  }

  /** Runs timers (node and remotes) up to `t`. */
  run(t: number): void {
    for (let steps = 0; steps < 100_000; steps++) {
      let next = this.node.nextTimeout();
      for (const r of this.remotes.values()) {
        const at = r.conn.nextTimeout();
        if (at !== undefined && (next === undefined || at < next)) next = at;
      }
      if (next === undefined || next > t) break;
      this.now = Math.max(this.now, next);
      if ((this.node.nextTimeout() ?? Infinity) <= this.now) this.node.handleTick(this.now);
      for (const r of this.remotes.values()) {
        if ((r.conn.nextTimeout() ?? Infinity) <= this.now) r.conn.handleTick(this.now);
      }
      this.settle();
    }
    this.now = Math.max(this.now, t);
  }

  /** Every action of a type, in order. */
  of<T extends PeerNodeAction["type"]>(type: T): Extract<PeerNodeAction, { type: T }>[] {
    return this.actions.filter((a): a is Extract<PeerNodeAction, { type: T }> => a.type === type);
  }

  /** The log messages so far. */
  logs(): string[] {
    return this.of("log").map((a) => `${a.level} ${a.message}`);
  }

  /** The last dial of `address` (it must exist). */
  dial(address: string): DialAction {
    const d = this.of("connect").filter((a) => a.to === address).at(-1);
    assert.ok(d !== undefined, `no dial of ${address}: ${JSON.stringify(this.of("connect"))}`);
    return d;
  }

  /** Completes a dial: the remote at `dial.to` accepts (a listening PeerConn). */
  accept(dial: DialAction, options: Partial<PeerConnOptions> = {}): Remote {
    const port = this.#ephemeral++;
    const r: Remote = {
      conn: new PeerConn({
        role: "inbound",
        prng: Prng.seeded(port),
        now: this.now,
        remoteAddress: addr(`${NODE_IP}:${port}`),
        localAddress: addr(dial.to),
        userAgent: `remote-${dial.to}`,
        unixMillisOffset: UNIX_MS,
        versionReplyDelayMs: 0,
        ...options,
      }),
      events: [],
    };
    this.remotes.set(dial.conn, r);
    this.node.handleConnected(dial.conn, this.now, `${NODE_IP}:${port}`);
    this.settle();
    return r;
  }

  /**
   * An inbound connection from a peer listening at `listen`, from `socket`; `key` is the id the
   * core gives it (1, 2, … in order of arrival).
   */
  inbound(
    key: ConnId,
    listen: string,
    socket = `${addr(listen).ip}:${this.#ephemeral++}`,
    options: Partial<PeerConnOptions> = {},
  ): Remote {
    const r: Remote = {
      conn: new PeerConn({
        role: "outbound",
        prng: Prng.seeded(key + 1000),
        now: this.now,
        remoteAddress: addr(NODE_LISTEN),
        localAddress: addr(listen),
        userAgent: `remote-${listen}`,
        unixMillisOffset: UNIX_MS,
        ...options,
      }),
      events: [],
    };
    this.remotes.set(key, r);
    assert.equal(this.node.handleAccept(socket, NODE_LISTEN, this.now), key, "the core's next id");
    this.settle();
    return r;
  }

  /** The node's view of its connections by state. */
  state(key: ConnId): string | undefined {
    return this.node.connections().find((c) => c.key === key)?.state;
  }
}

/** `n` saved entries on many /16s (198.18–198.x, spread over the book's buckets). */
function addrPairsSaved(n: number): { address: string; lastSeen: number }[] {
  return Array.from({ length: n }, (_, i) => ({
    address: `${20 + (i >> 8)}.${i & 255}.0.1:8333`,
    lastSeen: NOW_SEC - 600,
  }));
}

/** The addr entries a remote received, as `ip:port` texts. */
function received(r: Remote): string[] {
  return r.events.flatMap((e) =>
    e.type === "addrReceived"
      ? e.entries.map((x) =>
        (x.address.v6 ? `[${x.address.ip}]` : x.address.ip) + `:${x.address.port}`
      )
      : []
  );
}

Deno.test("PeerNode() dials manual peers first with negative keys and the connect timeout", () => {
  const lab = new Lab({
    manualPeers: ["198.51.100.7:8333", "[2001:db8::7]:8333"],
    savedPeers: [{ address: "203.0.113.9:8333", lastSeen: NOW_SEC - 60 }],
    targetPeers: 1,
    minOutbound: 1,
  });
  assert.equal(lab.node.nextTimeout(), 0);
  lab.run(0);
  const dials = lab.of("connect");
  assert.deepEqual(dials, [{
    type: "connect",
    conn: -1,
    to: "198.51.100.7:8333",
    timeoutMs: 5000,
  }]);
  // The manual peer fails: the other manual peer is next, then the saved one.
  lab.node.handleError(-1, "refused", 10);
  lab.settle();
  assert.equal(lab.node.nextTimeout(), 10, "the next dial check is due at once");
  lab.run(10);
  assert.deepEqual(lab.of("connect").map((d) => [d.conn, d.to]), [
    [-1, "198.51.100.7:8333"],
    [-2, "[2001:db8::7]:8333"],
  ]);
  lab.node.handleError(-2, "refused", 20);
  lab.run(20);
  assert.deepEqual(lab.of("connect").at(-1)?.to, "203.0.113.9:8333");
  assert.equal(lab.node.status().pending, 1);
});

Deno.test("PeerNode.handleConnected() completes a handshake, sends getaddr and stores the answer", () => {
  const lab = new Lab({ manualPeers: ["198.51.100.7:8333"], targetPeers: 1, minOutbound: 1 });
  lab.run(0);
  const dial = lab.dial("198.51.100.7:8333");
  const remote = lab.accept(dial);
  assert.equal(lab.state(dial.conn), "established");
  const sent = lab.lines.get(dial.conn)!;
  assert.match(
    sent[0],
    /^version\|3\|1\|1700000000\|198\.51\.100\.7:8333\|10\.0\.0\.1:8333\|\d+\|bitclone-ts\|0$/,
  );
  assert.ok(sent.includes("getaddr"));
  assert.ok(remote.events.some((e) => e.type === "getaddrReceived"));
  // The remote answers: itself (a self-announcement) and two other peers.
  remote.conn.sendAddr([
    { time: NOW_SEC, address: addr("198.51.100.7:8333") },
    { time: NOW_SEC - 100, address: addr("203.0.113.5:8333") },
    { time: NOW_SEC - 100, address: addr("2001:db8::9:8333") },
  ]);
  lab.settle();
  const book = lab.node.addressBook;
  assert.equal(book.get("198.51.100.7:8333")?.time, NOW_SEC, "self-announcement: no penalty");
  assert.equal(book.get("198.51.100.7:8333")?.table, "manual");
  assert.equal(book.get("203.0.113.5:8333")?.time, NOW_SEC - 100 - 7200, "2 h penalty");
  assert.equal(book.get("[2001:db8::9]:8333")?.source, "198.51");
  assert.deepEqual(lab.node.status(), { inbound: 0, outbound: 1, pending: 0, known: 3, tried: 0 });
  assert.ok(
    lab.logs().some((l) => /^info connected outbound 198\.51\.100\.7:8333 \(remote-/.test(l)),
  );
});

Deno.test("PeerNode keeps all 1,000 addresses of its own /16 from one getaddr answer (a lab of 1,000)", () => {
  const lab = new Lab({ manualPeers: ["10.0.200.1:8333"], targetPeers: 1, minOutbound: 1 });
  lab.run(0);
  const remote = lab.accept(lab.dial("10.0.200.1:8333"));
  const machines = Array.from(
    { length: 1000 },
    (_, i) => `10.0.${i % 250}.${2 + (i / 250 | 0)}:8333`,
  );
  remote.conn.sendAddr(machines.map((m) => ({ time: NOW_SEC - 60, address: addr(m) })));
  lab.settle();
  const book = lab.node.addressBook;
  const missing = machines.filter((m) => book.get(m) === undefined);
  assert.deepEqual(missing, [], `${missing.length} of 1000 lost`);
  assert.equal(book.size, 1001);
  assert.equal(lab.node.status().known, 1001);
});

Deno.test("PeerNode answers getaddr once with its own address first, then its peers and book", () => {
  const lab = new Lab({
    savedPeers: [
      { address: "203.0.113.5:8333", lastSeen: NOW_SEC - 600 },
      { address: "127.0.0.1:9000", lastSeen: NOW_SEC - 600 },
    ],
    targetPeers: 0,
    minOutbound: 0,
  });
  const a = lab.inbound(1, "198.51.100.20:8333");
  assert.equal(lab.state(1), "established");
  const b = lab.inbound(2, "192.0.2.30:8333");
  const got = received(b);
  assert.equal(got[0], NODE_LISTEN, "our own address first");
  assert.deepEqual(got.slice(1).sort(), ["198.51.100.20:8333", "203.0.113.5:8333"]);
  assert.ok(!got.includes("127.0.0.1:9000"), "loopback only to loopback peers");
  assert.ok(!got.includes("192.0.2.30:8333"), "never the asker's own address");
  const firstA = received(a);
  assert.equal(firstA[0], NODE_LISTEN);
  // A repeated getaddr is not answered (PeerConn), and the node's answer had one line.
  assert.equal(lab.lines.get(2)!.filter((l) => l.startsWith("addr|")).length, 1);
});

Deno.test("PeerNode answers getaddr with its whole book up to 1000 entries (not 23 %)", () => {
  const lab2 = (n: number) =>
    new Lab({
      savedPeers: addrPairsSaved(n),
      targetPeers: 0,
      minOutbound: 0,
    });
  for (const [n, expected] of [[500, 501], [1200, 1000]] as const) {
    const lab = lab2(n);
    assert.equal(lab.node.addressBook.size, n);
    const got = received(lab.inbound(1, "198.51.100.20:8333"));
    // Our own address plus the whole book (spec §C.5 would send max(100, 23 %) = 115 of 500),
    // and never more than one valid line of 1000.
    assert.equal(got.length, expected, `book of ${n}`);
    assert.equal(got[0], NODE_LISTEN);
    assert.equal(new Set(got).size, got.length);
    assert.equal(lab.lines.get(1)!.filter((l) => l.startsWith("addr|")).length, 1);
  }
});

Deno.test("PeerNode refreshes its addresses: at its target it dials one more peer, swaps books and closes", () => {
  const lab = new Lab({
    savedPeers: [{ address: "203.0.113.9:8333", lastSeen: NOW_SEC - 600 }],
    targetPeers: 1,
    minOutbound: 0,
    refreshIntervalMs: 60_000,
  });
  const keep = lab.inbound(1, "198.51.100.20:8333");
  keep.conn.sendAddr([{ time: NOW_SEC, address: addr("198.51.100.20:8333") }]);
  lab.settle();
  lab.run(59_000);
  assert.equal(lab.of("connect").length, 0, "not before the refresh interval");
  while (lab.of("connect").length === 0 && lab.now <= 72_000) lab.run(lab.now + 1000); // + jitter
  const dial = lab.dial("203.0.113.9:8333");
  assert.ok(lab.logs().some((l) => l === "debug dialing 203.0.113.9:8333 (address refresh)"));
  const remote = lab.accept(dial);
  assert.equal(lab.state(dial.conn), "established");
  assert.equal(lab.node.status().outbound + lab.node.status().inbound, 2, "target + 1 at most");
  // Both sides ask; the node answered the remote with its book (its other peer included).
  assert.ok(received(remote).includes("198.51.100.20:8333"));
  assert.ok(!lab.closes.has(dial.conn), "waits for the answer to its own getaddr");
  remote.conn.sendAddr([
    { time: NOW_SEC, address: addr("203.0.113.9:8333") },
    { time: NOW_SEC - 60, address: addr("192.0.2.77:8333") },
  ]);
  lab.settle();
  assert.equal(lab.closes.get(dial.conn), "address refresh done (2 entries)");
  assert.ok(lab.node.addressBook.get("192.0.2.77:8333") !== undefined, "learned");
  assert.ok(!lab.closes.has(1), "the regular connection stays");
  assert.deepEqual(lab.node.status(), { inbound: 1, outbound: 0, pending: 0, known: 3, tried: 1 });
  // A refresh connection is closed 30 s after the handshake without an answer, too.
  const first = lab.now;
  while (lab.of("connect").length === 1 && lab.now <= first + 72_000) lab.run(lab.now + 1000);
  const again = lab.dial("192.0.2.77:8333"); // the entry just learned (the other was just tried)
  lab.accept(again);
  assert.equal(lab.state(again.conn), "established");
  lab.run(lab.now + 29_000);
  assert.ok(!lab.closes.has(again.conn));
  lab.run(lab.now + 1_001);
  assert.equal(lab.closes.get(again.conn), "address refresh: no answer to getaddr");
  assert.ok(!lab.closes.has(1));
});

Deno.test("PeerNode relays a fresh unsolicited entry to at most 2 peers in their next advertisement", () => {
  const lab = new Lab({ targetPeers: 0, minOutbound: 0 });
  const peers = [1, 2, 3, 4].map((k) => lab.inbound(k, `198.51.${100 + k}.1:8333`));
  // Each peer answers our getaddr (a solicited line: never relayed).
  for (const [i, p] of peers.entries()) {
    p.conn.sendAddr([{ time: NOW_SEC, address: addr(`198.51.${101 + i}.1:8333`) }]);
  }
  lab.settle();
  for (const p of peers) p.events.length = 0;
  // Peer 1 sends a small unsolicited addr line (an advertisement) naming a new address.
  lab.now = 1000;
  peers[0].conn.sendAddr([
    { time: NOW_SEC + 1, address: addr("198.51.101.1:8333") },
    { time: NOW_SEC, address: addr("203.0.113.77:8333") },
  ]);
  lab.settle();
  assert.ok(lab.node.addressBook.get("203.0.113.77:8333"));
  lab.run(31_000); // one advertisement round
  const got = peers.map((p) => received(p).includes("203.0.113.77:8333"));
  assert.equal(got[0], false, "never back to its source");
  const relayed = got.filter(Boolean).length;
  assert.ok(relayed >= 1 && relayed <= 2, `relayed to ${relayed} peers`);
  // Every advertisement leads with our own address and has at most 10 entries.
  for (const [key, lines] of lab.lines) {
    for (const l of lines.filter((x) => x.startsWith("addr|"))) {
      const n = Number(l.split("|")[1]);
      assert.ok(n >= 1 && n <= 1000);
      assert.equal(l.split("|")[3], NODE_LISTEN, `key ${key}: ${l}`);
    }
  }
  const ads = lab.lines.get(2)!.filter((x) => x.startsWith("addr|")).slice(1);
  assert.ok(ads.length >= 1 && ads.every((l) => Number(l.split("|")[1]) <= 10));
});

Deno.test("PeerNode closes the newer of two connections to one peer with reject 409", () => {
  const lab = new Lab({ manualPeers: ["198.51.100.7:8333"], targetPeers: 1, minOutbound: 1 });
  lab.run(0);
  const dial = lab.dial("198.51.100.7:8333");
  lab.accept(dial);
  assert.equal(lab.state(dial.conn), "established");
  // The same peer dials us: its identity is its IP + the version's sender port.
  const dup = lab.inbound(1, "198.51.100.7:8333", "198.51.100.7:41000");
  assert.ok(lab.closes.has(1));
  assert.equal(lab.closes.get(1), "duplicate connection");
  assert.ok(lab.lines.get(1)!.some((l) => l.startsWith("reject|409|duplicate connection|")));
  assert.ok(dup.events.some((e) => e.type === "rejectReceived" && e.code === 409));
  assert.equal(lab.state(dial.conn), "established", "the older one stays");
  // And it never dials an address it is connected to.
  lab.run(60_000);
  assert.equal(lab.of("connect").length, 1);
});

Deno.test("PeerNode detects a self-connection by nonce, closes both ends and never dials it again", () => {
  // Our public address (behind NAT) is in the saved book; we do not know it is ours.
  const lab = new Lab({
    savedPeers: [{ address: "198.51.100.1:8333", lastSeen: NOW_SEC - 60 }],
    targetPeers: 1,
    minOutbound: 1,
  });
  lab.run(0);
  const dial = lab.dial("198.51.100.1:8333");
  lab.node.handleConnected(dial.conn, 1, `${NODE_IP}:50123`);
  lab.settle();
  const version = lab.lines.get(dial.conn)![0];
  assert.ok(version.startsWith("version|"));
  // The NAT loops our connection back to our own listener.
  const loop = lab.node.handleAccept("198.51.100.1:50123", NODE_LISTEN, 2);
  lab.node.handleData(loop, new TextEncoder().encode(version + "\r\n"), 3);
  lab.settle();
  assert.ok(lab.closes.has(loop), "the inbound end closed");
  assert.equal(lab.closes.get(dial.conn), "connected to ourselves", "the outbound end closed");
  assert.equal(lab.node.addressBook.get("198.51.100.1:8333"), undefined, "removed from the book");
  assert.ok(lab.node.ownAddresses().includes("198.51.100.1:8333"));
  assert.ok(lab.logs().some((l) => l.includes("198.51.100.1:8333 is our own address")));
  lab.run(3_600_000);
  assert.equal(lab.of("connect").filter((d) => d.to === "198.51.100.1:8333").length, 1);
  // Gossip naming it is not stored either.
  const peer = lab.inbound(2, "203.0.113.4:8333");
  peer.conn.sendAddr([{ time: NOW_SEC + 3600, address: addr("198.51.100.1:8333") }]);
  lab.settle();
  assert.equal(lab.node.addressBook.get("198.51.100.1:8333"), undefined);
});

Deno.test("PeerNode never dials its own listening address on a local interface", () => {
  const lab = new Lab({
    manualPeers: ["192.0.2.50:8333"],
    savedPeers: [
      { address: "10.0.0.1:8333" },
      { address: "127.0.0.1:8333" },
      { address: "203.0.113.1:8333" },
    ],
    targetPeers: 3,
    minOutbound: 3,
    maxPendingDials: 1,
  });
  lab.run(0);
  const first = lab.dial("192.0.2.50:8333");
  lab.accept(first); // learns that 10.0.0.1 is one of our IPs
  assert.ok(lab.node.ownAddresses().includes(NODE_LISTEN));
  assert.equal(lab.node.addressBook.get(NODE_LISTEN), undefined);
  assert.equal(lab.node.addressBook.get("127.0.0.1:8333"), undefined, "loopback + our port");
  lab.run(120_000);
  assert.ok(lab.of("connect").some((d) => d.to === "203.0.113.1:8333"));
  assert.ok(
    !lab.of("connect").some((d) => d.to === NODE_LISTEN || d.to === "127.0.0.1:8333"),
  );
});

Deno.test("PeerNode refuses an inbound connection with reject 503 when no slot can be freed", () => {
  const lab = new Lab({ maxInbound: 2, targetPeers: 0, minOutbound: 0, versionReplyDelayMs: 0 });
  // Two handshaking inbound connections (they never send anything) take both slots.
  assert.equal(lab.node.handleAccept("198.51.100.1:40000", NODE_LISTEN, 0), 1);
  assert.equal(lab.node.handleAccept("198.51.100.2:40000", NODE_LISTEN, 0), 2);
  assert.equal(lab.node.handleAccept("198.51.100.3:40000", NODE_LISTEN, 0), 3);
  lab.settle();
  assert.deepEqual(lab.lines.get(3), ["reject|503|busy|try later"]);
  assert.equal(lab.closes.get(3), "no free slot");
  assert.ok(!lab.closes.has(1) && !lab.closes.has(2));
  assert.equal(lab.node.status().pending, 2);
});

Deno.test("PeerNode evicts an established inbound peer (spec §C.9) to admit a newcomer", () => {
  const lab = new Lab({ maxInbound: 5, targetPeers: 0, minOutbound: 0 });
  for (let k = 1; k <= 5; k++) {
    lab.now = k * 1000;
    lab.inbound(k, `198.51.${100 + k}.1:8333`);
  }
  assert.equal(lab.node.status().inbound, 5);
  lab.now = 10_000;
  const newcomer = lab.inbound(6, "203.0.113.6:8333");
  const evicted = [...lab.closes.keys()];
  assert.equal(evicted.length, 1, JSON.stringify([...lab.closes]));
  assert.ok(evicted[0] >= 1 && evicted[0] <= 5);
  // Protected: 1 by network group, 2 by round trip (none measured: first two), then the older
  // half of the remaining two: so one of the two youngest goes.
  assert.ok(evicted[0] >= 4, `evicted ${evicted[0]}`);
  assert.ok(newcomer.events.some((e) => e.type === "established"));
  assert.equal(lab.node.status().inbound, 5);
  assert.ok(lab.logs().some((l) => l.startsWith("info evicting inbound")));
  assert.ok(lab.logs().some((l) => /^info dropped inbound .*: evicted/.test(l)));
});

Deno.test("PeerNode backs off a failing address exponentially, manual peers capped at 60 s", () => {
  const times = (lab: Lab, address: string) => lab.of("connect").filter((d) => d.to === address);
  const failAll = (lab: Lab, until: number) => {
    for (let t = lab.now; t < until; t += 500) {
      lab.run(t);
      for (const d of lab.of("connect")) {
        if (lab.state(d.conn) === "dialing") lab.node.handleError(d.conn, "refused", lab.now);
      }
      lab.settle();
    }
  };
  // A manual peer: 30 s, then 60 s, 60 s (+ up to 20 % jitter, + up to 1 s dial check).
  const manual = new Lab({ manualPeers: ["198.51.100.7:8333"], targetPeers: 1, minOutbound: 1 });
  const at: number[] = [];
  const record = (lab: Lab) => {
    let n = 0;
    return () => {
      const ds = times(lab, "198.51.100.7:8333");
      for (; n < ds.length; n++) at.push(lab.now);
    };
  };
  const rec = record(manual);
  for (let t = 0; t < 260_000; t += 250) {
    manual.run(t);
    rec();
    for (const d of manual.of("connect")) {
      if (manual.state(d.conn) === "dialing") {
        manual.node.handleError(d.conn, "refused", manual.now);
      }
    }
    manual.settle();
  }
  const gaps = at.slice(1).map((t, i) => t - at[i]);
  assert.ok(gaps.length >= 4, JSON.stringify(at));
  const bounds = [30_000, 60_000, 60_000, 60_000];
  for (let i = 0; i < 4; i++) {
    assert.ok(
      gaps[i] >= bounds[i] && gaps[i] <= bounds[i] * 1.2 + 1_500,
      `gap ${i}: ${gaps[i]} (${JSON.stringify(gaps)})`,
    );
  }
  // A gossiped address: 30 s, 60 s, then terrible (3 failures, never a success): not dialed.
  const lab = new Lab({
    savedPeers: [{ address: "203.0.113.9:8333", lastSeen: NOW_SEC - 60 }],
    targetPeers: 1,
    minOutbound: 1,
  });
  failAll(lab, 600_000);
  const t = times(lab, "203.0.113.9:8333").length;
  assert.equal(t, 3, `dialed ${t} times`);
  assert.equal(lab.node.addressBook.get("203.0.113.9:8333")?.attempts, 3);
});

Deno.test("PeerNode logs an unreachable command-line peer at warn once, with the reason, until reached", () => {
  const lab = new Lab({ manualPeers: ["198.51.100.7:8333"], targetPeers: 1, minOutbound: 1 });
  const warns = () => lab.logs().filter((l) => l.startsWith("warn manual peer 198.51.100.7:8333"));
  const failDials = (until: number) => {
    for (let t = lab.now; t < until; t += 500) {
      lab.run(t);
      for (const d of lab.of("connect")) {
        if (lab.state(d.conn) === "dialing") {
          lab.node.handleError(d.conn, "connection refused", lab.now);
        }
      }
      lab.settle();
    }
  };
  failDials(200_000);
  assert.ok(lab.of("connect").length >= 3, "retried");
  assert.deepEqual(warns(), [
    "warn manual peer 198.51.100.7:8333 unreachable: dial failed: connection refused (retrying; logged once)",
  ]);
  assert.ok(
    lab.logs().some((l) => l === "debug 198.51.100.7:8333: dial failed: connection refused"),
  );
  // Reached, then lost and unreachable again: one more warning.
  const before = lab.of("connect").length;
  while (lab.of("connect").length === before) lab.run(lab.now + 500);
  const dial = lab.of("connect").at(-1)!;
  const remote = lab.accept(dial);
  assert.equal(lab.state(dial.conn), "established");
  remote.conn.close("bye");
  lab.settle();
  failDials(lab.now + 200_000);
  assert.equal(warns().length, 2, JSON.stringify(warns()));
});

Deno.test("PeerNode waits 5 minutes after a busy reject and records no failure", () => {
  const lab = new Lab({
    savedPeers: [{ address: "203.0.113.9:8333", lastSeen: NOW_SEC - 60 }],
    targetPeers: 1,
    minOutbound: 1,
  });
  lab.run(0);
  const dial = lab.dial("203.0.113.9:8333");
  // The listener is full: it answers our version with reject 503 and closes.
  lab.node.handleConnected(dial.conn, 1, `${NODE_IP}:50000`);
  lab.node.handleData(dial.conn, new TextEncoder().encode("reject|503|busy|full\r\n"), 2);
  lab.settle();
  assert.ok(lab.closes.has(dial.conn));
  assert.equal(lab.node.addressBook.get("203.0.113.9:8333")?.attempts, 0);
  assert.ok(lab.logs().some((l) => l.includes("reject from 203.0.113.9:8333: 503 busy full")));
  lab.run(299_000);
  assert.equal(lab.of("connect").length, 1, "not before 5 minutes");
  lab.run(366_000); // 5 min + up to 20 % jitter + the 1 s dial check
  assert.equal(lab.of("connect").length, 2, "retried after the busy back-off");
});

Deno.test("PeerNode counts a handshake timeout and a reset while handshaking as failures", () => {
  const lab = new Lab({
    savedPeers: [
      { address: "203.0.113.9:8333", lastSeen: NOW_SEC - 60 },
      { address: "192.0.2.9:8333", lastSeen: NOW_SEC - 60 },
    ],
    targetPeers: 2,
    minOutbound: 2,
    handshakeTimeoutMs: 10_000,
  });
  lab.run(0);
  const dials = lab.of("connect");
  assert.equal(dials.length, 2);
  lab.node.handleConnected(dials[0].conn, 1, `${NODE_IP}:50000`);
  lab.node.handleConnected(dials[1].conn, 1, `${NODE_IP}:50001`);
  lab.node.handleError(dials[1].conn, "connection reset by peer", 2);
  lab.settle();
  assert.ok(!lab.closes.has(dials[1].conn), "no close for a socket the adapter already closed");
  lab.run(10_500);
  assert.equal(lab.closes.get(dials[0].conn), "handshake timed out");
  for (const d of dials) assert.equal(lab.node.addressBook.get(d.to)?.attempts, 1);
});

Deno.test("PeerNode gives up a dial the adapter never settles after the timeout plus 1 s", () => {
  const lab = new Lab({ manualPeers: ["198.51.100.7:8333"], targetPeers: 1, minOutbound: 1 });
  lab.run(0);
  const dial = lab.dial("198.51.100.7:8333");
  lab.run(5_999);
  assert.ok(!lab.closes.has(dial.conn));
  lab.run(6_000);
  assert.equal(lab.closes.get(dial.conn), "connect timed out");
  // A late report for that key is ignored.
  lab.node.handleConnected(dial.conn, 6_001, `${NODE_IP}:50000`);
  lab.settle();
  assert.equal(lab.lines.get(dial.conn), undefined);
});

Deno.test("PeerNode drops a silent peer after 90 s, marks it dropped and stops advertising it", () => {
  const lab = new Lab({ targetPeers: 0, minOutbound: 0 });
  lab.inbound(1, "198.51.100.1:8333");
  lab.inbound(2, "203.0.113.2:8333");
  // Peer 1 announces itself, then goes silent (its PeerConn is removed from the lab: no pings).
  lab.remotes.get(1)!.conn.sendAddr([{ time: NOW_SEC, address: addr("198.51.100.1:8333") }]);
  lab.settle();
  lab.remotes.delete(1);
  lab.run(89_999);
  assert.equal(lab.state(1), "established");
  lab.run(90_000);
  assert.equal(lab.state(1), undefined);
  assert.match(lab.closes.get(1)!, /^no line for 90 s \(inactivity\)$/);
  assert.ok(
    lab.logs().some((l) => /^info dropped inbound 198\.51\.100\.1:8333: no line for 90 s/.test(l)),
  );
  const entry = lab.node.addressBook.get("198.51.100.1:8333");
  assert.equal(entry?.droppedAt, NOW_SEC + 90);
  // A newcomer's getaddr answer and later advertisements leave it out.
  const c = lab.inbound(3, "192.0.2.3:8333");
  lab.run(200_000);
  assert.ok(!received(c).includes("198.51.100.1:8333"));
  assert.ok(received(c).includes("203.0.113.2:8333"));
});

Deno.test("PeerNode discourages a misbehaving peer and does not dial it again", () => {
  const lab = new Lab({
    savedPeers: [{ address: "203.0.113.9:8333", lastSeen: NOW_SEC - 60 }],
    targetPeers: 1,
    minOutbound: 1,
  });
  lab.run(0);
  const dial = lab.dial("203.0.113.9:8333");
  lab.accept(dial);
  // 1001 entries: line dropped, 100 points, closed.
  const pairs = Array.from({ length: 1001 }, (_, i) => `${NOW_SEC}|10.9.${i >> 8}.${i & 255}:1`);
  lab.node.handleData(
    dial.conn,
    new TextEncoder().encode(`addr|1001|${pairs.join("|")}\r\n`),
    lab.now,
  );
  lab.settle();
  assert.ok(lab.closes.has(dial.conn));
  assert.ok(lab.logs().some((l) => l.startsWith("warn 203.0.113.9:8333 discouraged")));
  lab.run(3_600_000);
  assert.equal(lab.of("connect").length, 1);
});

Deno.test("PeerNode saves every 60 s when the book changed, and on shutdown", () => {
  const lab = new Lab({ targetPeers: 0, minOutbound: 0 });
  lab.run(59_999);
  assert.equal(lab.of("save").length, 0);
  lab.run(60_000);
  assert.equal(lab.of("save").length, 0, "nothing changed");
  const peer = lab.inbound(1, "198.51.100.1:8333");
  peer.conn.sendAddr([{ time: NOW_SEC, address: addr("203.0.113.3:8333") }]);
  lab.settle();
  lab.run(119_999);
  assert.equal(lab.of("save").length, 0);
  lab.run(120_000);
  const saves = lab.of("save");
  assert.equal(saves.length, 1);
  assert.ok(saves[0].peers.some((p) => p.address === "203.0.113.3:8333"));
  lab.node.shutdown(130_000);
  lab.settle();
  assert.equal(lab.of("save").length, 2, "final save");
  assert.equal(lab.closes.get(1), "shutting down");
  assert.equal(lab.node.nextTimeout(), undefined);
  assert.ok(lab.logs().at(-1)?.startsWith("info stopped"));
  const late = lab.node.handleAccept("198.51.100.5:1", NODE_LISTEN, 130_001);
  lab.settle();
  assert.equal(lab.closes.get(late), "shutting down");
});

Deno.test("PeerNode logs a status line every statusIntervalMs", () => {
  const lab = new Lab({ targetPeers: 0, minOutbound: 0, statusIntervalMs: 10_000 });
  lab.inbound(1, "198.51.100.1:8333");
  lab.run(30_000);
  const status = lab.logs().filter((l) => l.startsWith("info status:"));
  assert.equal(status.length, 3);
  assert.equal(status[0], "info status: 1 in, 0 out, 0 pending; 0 addresses known (0 tried)");
});

Deno.test("PeerNode starts from the command-line peers when the saved file is damaged", () => {
  const file = parsePeersFile('[{"address": "10.0.0.9:8333", "lastSeen": 17');
  assert.equal(file.damaged, true);
  assert.equal(file.warnings.length, 1);
  const lab = new Lab({
    manualPeers: ["198.51.100.7:8333", "not-an-address"],
    savedPeers: file.peers,
  });
  assert.ok(lab.logs().some((l) => l.startsWith('warn manual peer "not-an-address" skipped')));
  assert.ok(
    lab.logs().some((l) =>
      l === "info starting: 1 manual peers, 0 saved addresses, target 5 peers"
    ),
  );
  lab.run(0);
  assert.deepEqual(lab.of("connect").map((d) => d.to), ["198.51.100.7:8333"]);
});

Deno.test("PeerNode keeps at least 2 outbound connections when inbound ones fill the target", () => {
  const lab = new Lab({
    savedPeers: [
      { address: "203.0.113.1:8333", lastSeen: NOW_SEC - 60 },
      { address: "192.0.2.1:8333", lastSeen: NOW_SEC - 60 },
      { address: "100.1.0.1:8333", lastSeen: NOW_SEC - 60 },
    ],
  });
  for (let k = 1; k <= 5; k++) lab.inbound(k, `198.51.${100 + k}.1:8333`);
  lab.run(0);
  const dials = lab.of("connect");
  assert.equal(dials.length, 2, "established 5, outbound 0: dial 2");
  for (const d of dials) lab.accept(d);
  lab.run(30_000);
  assert.equal(lab.of("connect").length, 2);
  // Seven established: beyond target + 1 an inbound one goes at once, the next after 60 s.
  assert.deepEqual(lab.node.status(), { inbound: 4, outbound: 2, pending: 0, known: 3, tried: 2 });
  lab.run(120_000);
  assert.equal(lab.of("connect").length, 2);
  assert.deepEqual(lab.node.status(), { inbound: 3, outbound: 2, pending: 0, known: 3, tried: 2 });
});

Deno.test("PeerNode trims established connections past the target: at once beyond target + 1, after 60 s to the target", () => {
  const lab = new Lab({ targetPeers: 3, minOutbound: 0, manualPeers: ["198.51.100.9:8333"] });
  lab.run(0);
  const manual = lab.dial("198.51.100.9:8333");
  lab.accept(manual);
  for (let k = 1; k <= 3; k++) {
    lab.now = k * 1000;
    lab.inbound(k, `198.51.${100 + k}.1:8333`);
  }
  assert.deepEqual([...lab.closes.keys()], [], "target + 1 may wait");
  lab.now = 5000;
  lab.inbound(4, "198.51.104.1:8333");
  // Five established, target 3: the oldest inbound goes at once (the manual peer stays).
  assert.deepEqual([...lab.closes.keys()], [1]);
  assert.equal(lab.closes.get(1), "over the target of 3 connections");
  assert.equal(lab.node.status().inbound + lab.node.status().outbound, 4);
  // Above the target since the third inbound peer (t = 3 s): the last surplus waits 60 s.
  lab.run(3000 + 59_000);
  assert.deepEqual([...lab.closes.keys()], [1], "the last surplus waits 60 s");
  lab.run(3000 + 61_000);
  assert.deepEqual([...lab.closes.keys()], [1, 2]);
  const s = lab.node.status();
  assert.equal(s.inbound + s.outbound, 3);
  assert.ok(lab.node.connections().some((c) => c.manual && c.state === "established"));
  assert.ok(
    lab.logs().some((l) => /^info dropped inbound 198\.51\.101\.1:8333: over the target/.test(l)),
  );
  // Back at the target: nothing more is closed.
  lab.run(300_000);
  assert.deepEqual([...lab.closes.keys()], [1, 2]);
});

Deno.test("PeerNode takes an earlier time as the latest, refuses NaN, and ignores calls for unknown ids", () => {
  const lab = new Lab();
  lab.node.handleTick(100);
  lab.node.handleTick(99); // a clock that steps back: taken as 100 (src/core's time policy)
  assert.throws(() => lab.node.handleTick(NaN), RangeError);
  assert.throws(() => lab.node.handleTick(-1), RangeError);
  assert.throws(() => lab.node.handleData(1, "x" as unknown as Uint8Array, 100), TypeError);
  lab.node.handleData(77, new Uint8Array([1]), 100);
  lab.node.handleEof(77, 100);
  lab.node.handleError(77, "x", 100);
  lab.node.handleError(77, "x", 100);
  lab.node.handleConnected(77, 100, "10.0.0.1:1");
  lab.settle();
  assert.ok(!lab.actions.some((a) => "conn" in a && a.conn === 77));
  assert.throws(() => new PeerNode({ prng: Prng.seeded(1), now: 0, listenPort: 0 }), RangeError);
  assert.throws(
    () => new PeerNode({ prng: Prng.seeded(1), now: 0, externalIp: "example.org" }),
    TypeError,
  );
});

Deno.test("PeerNode never throws on any sequence of network inputs and keeps its bounds", () => {
  const te = new TextEncoder();
  const chunks = [
    "version|3|1|1700000000|10.0.0.1:8333|198.51.100.9:8333|12345|x|0\r\n",
    "verack|12345\r\n",
    "verack\r\n",
    "getaddr\r\n",
    "addr|2|1700000000|203.0.113.1:8333|1700000000|[2001:db8::1]:8333\r\n",
    "addr|1|1|0.0.0.0:0\r\n",
    "ping|5\r\npong|5\r\n",
    "reject|503|busy|x\r\n",
    "message|100|hi|there\r\n",
    "garbage|||\r\n",
    "\u0000\u00ff\r\n",
    "version|3\r\n",
    "addr|1001|" + "1|1.2.3.4:5|".repeat(3) + "\r\n",
  ];
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 1000 }),
      fc.array(
        fc.tuple(
          fc.integer({ min: 0, max: 7 }),
          fc.integer({ min: 0, max: 9 }),
          fc.integer({ min: 0, max: chunks.length - 1 }),
          fc.integer({ min: 0, max: 40_000 }),
        ),
        { maxLength: 120 },
      ),
      (seed, ops) => {
        const node = new PeerNode({
          prng: Prng.seeded(seed),
          now: 0,
          unixMillisOffset: UNIX_MS,
          manualPeers: ["198.51.100.9:8333"],
          savedPeers: [{ address: "203.0.113.7:8333" }],
          maxConnections: 6,
          maxInbound: 4,
        });
        let now = 0;
        const open = new Set<ConnId>();
        const dials: ConnId[] = [];
        for (const [op, k, c, dt] of ops) {
          now += dt;
          const key = k + 1;
          switch (op) {
            case 0:
              open.add(node.handleAccept(`198.51.100.${k}:4${k}000`, NODE_LISTEN, now));
              break;
            case 1:
            case 2:
              node.handleData(open.has(key) ? key : dials[k] ?? key, te.encode(chunks[c]), now);
              break;
            case 3:
              node.handleEof(key, now);
              break;
            case 4:
              node.handleError(dials[k] ?? key, "reset", now);
              break;
            case 5:
              if (dials[k] !== undefined) {
                node.handleConnected(dials[k], now, `${NODE_IP}:5000${k}`);
              }
              break;
            case 6:
              if (dials[k] !== undefined) node.handleError(dials[k], "refused", now);
              break;
            default:
              node.handleTick(now);
          }
          for (let a = node.pollAction(); a !== undefined; a = node.pollAction()) {
            if (a.type === "connect") dials.push(a.conn);
            if (a.type === "close") open.delete(a.conn);
          }
          const s = node.status();
          assert.ok(s.inbound + s.outbound + s.pending <= 6, JSON.stringify(s));
          assert.ok(node.connections().filter((x) => x.direction === "inbound").length <= 4);
          const at = node.nextTimeout();
          if (op === 7) assert.ok(at === undefined || at > now, `${at} after a tick at ${now}`);
        }
        node.shutdown(now + 1);
        let saved = false;
        for (let a = node.pollAction(); a !== undefined; a = node.pollAction()) {
          saved ||= a.type === "save";
        }
        assert.ok(saved);
        assert.equal(node.connections().length, 0);
      },
    ),
    { numRuns: 150 },
  );
});
