/**
 * Test helper: runs bench/tracker_replica.py, the Python 3 stand-in for the original Part 1
 * tracker, on a free port of 127.0.0.1, and stops it.
 */

const REPLICA = new URL("../../bench/tracker_replica.py", import.meta.url).pathname;

/** A running replica. */
export interface Replica {
  /** `127.0.0.1:<port>`. */
  hostport: string;
  port: number;
  /** Stops it (SIGTERM) and waits for the exit. */
  stop(): Promise<void>;
}

/** Starts the replica with extra arguments (`--db FILE`, `--backlog N`). */
export async function startReplica(args: string[] = []): Promise<Replica> {
  const child = new Deno.Command("python3", {
    args: [REPLICA, "--host", "127.0.0.1", "--port", "0", ...args],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!out.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    out += value;
  }
  await reader.cancel();
  const m = /listening on ([\d.]+):(\d+)/.exec(out);
  if (!m) {
    const err = await new Response(child.stderr).text();
    await child.status;
    throw new Error(`the replica did not start: ${out}${err}`);
  }
  return {
    hostport: `${m[1]}:${m[2]}`,
    port: Number(m[2]),
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch {
        // already gone
      }
      await child.status;
      await child.stderr.cancel();
    },
  };
}
