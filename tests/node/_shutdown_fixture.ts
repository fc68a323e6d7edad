/**
 * Test fixture for `shutdown_test.ts`, signalling itself as a terminal would.
 *
 * - `burst`: three SIGINTs 20 ms apart; prints the number of aborts and exits 0 (unless a signal
 *   forced an exit).
 * - `force DIR`: rewrites `DIR/big.txt` atomically in a loop, begins a stop with a SIGINT, then
 *   sends the deliberate second one after the grace time, during a write: the process must exit
 *   130 with the file whole and no `.tmp` left.
 */
import { writeFileAtomic } from "../../src/node/files.ts";
import { shutdownSignal } from "../../src/node/shutdown.ts";
import { setupLogging } from "../../src/util/log_deno.ts";

setupLogging({ level: "info" });
const [mode, dir] = Deno.args;
const { signal } = shutdownSignal({ graceMs: 200, watchParent: false });
if (mode === "burst") {
  let aborts = 0;
  signal.addEventListener("abort", () => aborts++);
  for (let i = 0; i < 3; i++) {
    Deno.kill(Deno.pid, "SIGINT");
    await new Promise((r) => setTimeout(r, 20));
  }
  await new Promise((r) => setTimeout(r, 150));
  console.log(`aborts ${aborts}`);
  Deno.exit(0);
}
const text = "x".repeat(8 * 1024 * 1024) + "\n";
let writes = 0;
for (;;) {
  await writeFileAtomic(`${dir}/big.txt`, text);
  writes++;
  if (writes === 2) Deno.kill(Deno.pid, "SIGINT"); // the stop begins (and never ends here)
  if (signal.aborted && writes === 4) {
    // The deliberate second Ctrl-C, while the next write is under way.
    setTimeout(() => Deno.kill(Deno.pid, "SIGINT"), 250);
  }
}
