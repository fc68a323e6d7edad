/**
 * Test entry point: runs `bitclone tracker ring-serve` / `ring-peer` through the real CLI layer
 * (`runCli`, signals, exit codes) with a command tree holding just the ring commands, so the
 * process tests do not depend on how the `tracker` group is wired into `main.ts`.
 */
import { ringPeerCommand, ringServeCommand } from "../../src/cli/commands/tracker_ring.ts";
import { runCli, shutdownSignal } from "../../src/cli/run.ts";

if (import.meta.main) {
  const { signal, dispose } = shutdownSignal();
  const code = await runCli(
    {
      name: "bitclone",
      summary: "ring commands (test entry)",
      subcommands: [{
        name: "tracker",
        summary: "CS457 tracker",
        subcommands: [ringServeCommand, ringPeerCommand],
      }],
    },
    Deno.args,
    { version: "bitclone test", signal },
  );
  dispose();
  Deno.exit(code);
}
