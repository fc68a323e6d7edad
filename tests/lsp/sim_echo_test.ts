// Spec §15.2 (echo family: Basic, SendReceive, Robust) and §15.8 (server slow start), in the
// simulator with the spec's parameters, several seeds each.
import { EchoRun, SERVER, simTest, specParams, text, World } from "./_sim_harness.ts";
import { MsgType } from "../../src/lsp/wire.ts";

interface EchoCase {
  name: string;
  clients: number;
  messages: number;
  /** (K, δ, ω, M); B is 0 throughout the family. */
  kdwm: [number, number, number, number];
  sleepMsMax?: number;
  /** Write-drop rate of both roles. */
  writeDrop?: number;
  /** The spec's deadline, from the moment every client is connected. */
  deadlineMs: number;
  /** SendReceive: the echoes must be over before any endpoint's first epoch tick. */
  beforeFirstEpoch?: boolean;
  seeds: number;
}

const CASES: EchoCase[] = [
  { name: "Basic1", clients: 1, messages: 3, kdwm: [5, 2000, 1, 1], deadlineMs: 2000, seeds: 10 },
  { name: "Basic2", clients: 1, messages: 50, kdwm: [5, 2000, 1, 1], deadlineMs: 2000, seeds: 10 },
  { name: "Basic3", clients: 2, messages: 50, kdwm: [5, 2000, 1, 1], deadlineMs: 2000, seeds: 10 },
  { name: "Basic4", clients: 10, messages: 50, kdwm: [5, 2000, 2, 2], deadlineMs: 2000, seeds: 5 },
  { name: "Basic5", clients: 2, messages: 500, kdwm: [5, 2000, 2, 1], deadlineMs: 2000, seeds: 5 },
  {
    name: "Basic6",
    clients: 10,
    messages: 500,
    kdwm: [5, 2000, 20, 10],
    deadlineMs: 15_000,
    seeds: 3,
  },
  {
    name: "Basic7",
    clients: 4,
    messages: 10,
    kdwm: [5, 2000, 2, 2],
    sleepMsMax: 100,
    deadlineMs: 15_000,
    seeds: 5,
  },
  {
    name: "Basic8",
    clients: 5,
    messages: 10,
    kdwm: [5, 2000, 10, 10],
    sleepMsMax: 100,
    deadlineMs: 15_000,
    seeds: 5,
  },
  {
    name: "Basic9",
    clients: 2,
    messages: 50,
    kdwm: [5, 2000, 10, 10],
    sleepMsMax: 100,
    deadlineMs: 15_000,
    seeds: 5,
  },
  {
    name: "SendReceive1",
    clients: 1,
    messages: 6,
    kdwm: [3, 5000, 1, 1],
    deadlineMs: 5000,
    beforeFirstEpoch: true,
    seeds: 10,
  },
  {
    name: "SendReceive2",
    clients: 4,
    messages: 6,
    kdwm: [3, 5000, 1, 1],
    deadlineMs: 5000,
    beforeFirstEpoch: true,
    seeds: 10,
  },
  {
    name: "SendReceive3",
    clients: 4,
    messages: 6,
    kdwm: [3, 10_000, 1, 1],
    sleepMsMax: 100,
    deadlineMs: 10_000,
    beforeFirstEpoch: true,
    seeds: 10,
  },
  ...([
    ["Robust1", 1, 10, 1],
    ["Robust2", 3, 15, 1],
    ["Robust3", 5, 10, 1],
    ["Robust4", 1, 10, 2],
    ["Robust5", 3, 15, 5],
    ["Robust6", 5, 10, 10],
  ] as const).map(([name, clients, messages, w]): EchoCase => ({
    name,
    clients,
    messages,
    kdwm: [20, 50, w, w],
    writeDrop: 0.2,
    deadlineMs: 15_000,
    seeds: 10,
  })),
];

for (const c of CASES) {
  const [K, delta, omega, M] = c.kdwm;
  const what = `${c.clients} client(s) × ${c.messages}, K ${K} δ ${delta} ω ${omega} M ${M}` +
    (c.sleepMsMax ? `, server sleeps ≤ ${c.sleepMsMax}ms` : "") +
    (c.writeDrop ? `, ${c.writeDrop * 100}% write drop` : "");
  simTest(
    import.meta.url,
    `LspEndpoint echoes lock-step within the deadline in ${c.name} (${what})`,
    { seeds: c.seeds },
    (seed) => {
      const world = new World({
        seed,
        params: specParams(K, delta, omega, 0, M),
        clients: c.clients,
      });
      const echo = new EchoRun(world, { messages: c.messages, sleepMsMax: c.sleepMsMax });
      world.connectAll(delta);
      if (c.writeDrop) {
        world.faults.setWriteDrop("both", c.writeDrop);
        world.sniffer.start();
      }
      echo.start();
      const took = world.waitFor(() => echo.done, c.deadlineMs, `${c.name} echoes`);
      world.note(`echoes done in ${took}ms`);
      const endpoints = [world.server, ...world.clients.map((cl) => cl.endpoint)];
      const retransmitted = endpoints.reduce((n, ep) => n + ep.stats().dataRetransmitted, 0);
      if (c.beforeFirstEpoch) {
        const ticked = [SERVER, ...world.clients.map((cl) => cl.addr)]
          .filter((addr) => world.tickTimes(addr).size > 0);
        world.check(
          ticked.length === 0,
          `${ticked} ticked before the echoes were over (${took}ms)`,
        );
      }
      if (c.writeDrop) {
        // Robust: every dropped Data or Ack of Data was repaired by a retransmission (on epoch
        // ticks only, checked below), and no connection was wrongly declared lost (K·δ = 1 s).
        const repairs = world.sniffer.log.filter((e) =>
          e.dropped && (e.msg.type === MsgType.Data || e.msg.seqNum !== 0)
        ).length;
        world.check(
          repairs === 0 || retransmitted > 0,
          `${repairs} Data/Acks dropped but no retransmission`,
        );
      } else if (took < delta - 5) {
        // Basic: everything flowed within one epoch without a single retransmission.
        world.check(retransmitted === 0, `${retransmitted} retransmissions without faults`);
      }
      world.checkEpochDiscipline();
      world.check(
        world.clients.every((cl) => cl.end === undefined) &&
          [...world.serverConns.values()].every((sc) => sc.end === undefined),
        "a connection ended during the echoes",
      );
      // Every server connection carried exactly its client's script.
      for (const cl of world.clients) {
        const got = world.serverConnOf(cl).inbox.map(text);
        const want = echo.scripts[cl.index].map(text);
        world.check(
          JSON.stringify(got) === JSON.stringify(want),
          `server read ${got.length} messages from client ${cl.index}, not its script`,
        );
      }
    },
  );
}

for (const clients of [1, 3]) {
  simTest(
    import.meta.url,
    `LspEndpoint.client() keeps resending Connect until a late server starts (ServerSlowStart${
      clients === 1 ? 1 : 2
    }, ${clients} client(s))`,
    { seeds: 10 },
    (seed) => {
      const delta = 500;
      const world = new World({
        seed,
        params: specParams(5, delta, 1, 0, 1),
        clients,
        isn: 0,
        serverStartAt: 3 * delta,
      });
      const echo = new EchoRun(world, { messages: 10 });
      // Connects at 0, δ, 2δ go nowhere; the one of the tick at 3δ reaches the server.
      world.connectAll(3 * delta + 50);
      for (const c of world.clients) {
        world.check(
          c.connectedAt! >= 3 * delta && c.connectedAt! < c.startAt + 3 * delta + 10,
          () => `client ${c.index} connected at ${c.connectedAt}ms, not right after 3δ`,
        );
        world.check(
          c.endpoint.stats().connectsSent === 4,
          () => `client ${c.index} sent ${c.endpoint.stats().connectsSent} Connects, not 4`,
        );
      }
      echo.start();
      world.waitFor(() => echo.done, 5 * delta - world.now, "echoes after a slow start");
      for (const c of world.clients) c.endpoint.closeAll(world.now);
      world.waitFor(
        () => world.clients.every((c) => c.end === "closed"),
        5 * delta - world.now,
        "clients closing within 5 epochs of the start",
      );
    },
  );
}
