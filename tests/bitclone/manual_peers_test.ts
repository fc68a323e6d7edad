/**
 * Host names among the command-line peers: resolved once at start by the runner (the node core
 * takes IP addresses only), logged at info; a name without an address logged at warn and left out.
 */
import assert from "node:assert/strict";
import { resolveManualPeers } from "../../src/bitclone/node_runner_deno.ts";
import { manualPeerValue } from "../../src/cli/commands/peer.ts";
import { UsageError } from "../../src/cli/command.ts";
import { Prng } from "../../src/util/prng.ts";
import { recordingLogger, startTestPeer } from "./_live_helpers.ts";

Deno.test("resolveManualPeers() turns names into addresses, keeps IP literals, warns about unknown names", async () => {
  const { logger, lines } = recordingLogger();
  const asked: string[] = [];
  const resolve = (hostPort: string) => {
    asked.push(hostPort);
    if (hostPort.startsWith("lab7:")) return Promise.resolve("10.0.0.7:8333");
    if (hostPort.startsWith("v6host:")) return Promise.resolve("[2001:db8::7]:8333");
    return Promise.reject(new Error("Cannot resolve 'nowhere.invalid': no address"));
  };
  const out = await resolveManualPeers(
    ["10.0.0.5:8333", "lab7:8333", "nowhere.invalid:8333", "v6host:8333", "[::1]:9", "no port"],
    logger,
    resolve,
  );
  assert.deepEqual(out, [
    "10.0.0.5:8333",
    "10.0.0.7:8333",
    "[2001:db8::7]:8333",
    "[::1]:9",
    "no port",
  ]);
  assert.deepEqual(asked, ["lab7:8333", "nowhere.invalid:8333", "v6host:8333"]);
  assert.deepEqual(lines.map((l) => `${l.level} ${l.text}`), [
    "info manual peer lab7:8333 resolved to 10.0.0.7:8333",
    "warn manual peer nowhere.invalid:8333 skipped: cannot resolve nowhere.invalid (Cannot resolve 'nowhere.invalid': no address)",
    "info manual peer v6host:8333 resolved to [2001:db8::7]:8333",
  ]);
});

Deno.test("a live peer dials a command-line peer given by name, at the resolved address", async () => {
  const target = await startTestPeer({ prng: Prng.seeded(2) }); // its own nonces
  const peer = await startTestPeer({
    manualPeers: [`peer-a.lab.test:${target.peer.port}`],
    resolveHost: (hostPort) => Promise.resolve(hostPort.replace("peer-a.lab.test", "127.0.0.1")),
    targetPeers: 1,
    minOutbound: 1,
  });
  try {
    const address = `127.0.0.1:${target.peer.port}`;
    assert.equal(peer.peer.core.addressBook.get(address)?.table, "manual");
    for (let i = 0; i < 200 && peer.peer.status().outbound < 1; i++) {
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.equal(peer.peer.status().outbound, 1);
    assert.ok(peer.lines.some((l) => l.text.includes(`resolved to ${address}`)));
  } finally {
    await peer.stop();
    await target.stop();
  }
});

Deno.test("manualPeerValue() accepts IP literals and host names, refuses anything else clearly", () => {
  assert.equal(manualPeerValue("10.0.0.5:8333"), "10.0.0.5:8333");
  assert.equal(manualPeerValue("localhost:8334"), "127.0.0.1:8334");
  assert.equal(manualPeerValue("Lab7.CS.example:08333"), "lab7.cs.example:8333");
  for (const bad of ["bad_name:8333", "10.0.0.300:8333", "lab7", "lab7:0", "lab7:70000", "-x:1"]) {
    assert.throws(() => manualPeerValue(bad), UsageError, bad);
  }
});
