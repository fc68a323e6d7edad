/**
 * Helper of `durable_log_test.ts`'s kill -9 test: opens a KvLog in the directory given as the
 * first argument and appends forever, many appends at a time, printing each key on stdout once
 * its append has resolved (that is, once it is acknowledged as durable).
 */
import { KvLog } from "../../src/kv/durable_log_deno.ts";

const dir = Deno.args[0];
if (!dir) {
  console.error("usage: _log_writer.ts DIR");
  Deno.exit(2);
}
const { log } = await KvLog.open(dir, { compactAfterBytes: 16 * 1024 });
const out = new TextEncoder();
let n = 0;
for (;;) {
  const round: Promise<void>[] = [];
  for (let i = 0; i < 20; i++) {
    const key = `k${n++}`;
    round.push(
      log.append([{ key, value: `v-${key}`, clock: n, origin: "writer" }]).then(() => {
        Deno.stdout.writeSync(out.encode(`${key}\n`));
      }),
    );
  }
  // keep some appends in flight at all times: wait for only part of the round
  await Promise.race(round);
}
