/**
 * A key-value client run inside one host of a lab (`deno run --allow-net _kv_probe.ts JOB`), for
 * tests/hosts/kv_test.ts: the test process lives in the root namespace and cannot reach the lab.
 * JOB is one JSON object; the result is one JSON line on stdout.
 *
 * - `{"op":"get","targets":["ip:port",…],"keys":["k",…]}` → `{"ip:port":{"k":reply}}`, where a
 *   reply is `{value,clock,origin}` (`value` null when absent) or `{error}`.
 * - `{"op":"propagate","set":"ip:port","key":"k","value":"v","targets":[…],"timeoutMs":n}` → sends
 *   the Setvalue, then polls Getvalue on every target (each in its own loop) until each returns
 *   `v`: `{setMs, allMs, perTarget:{"ip:port":ms}}`, times from just before the Setvalue was sent
 *   (`-1` for a target that did not get it within `timeoutMs`).
 *
 * @module
 */
import { kvRequest } from "../../src/kv/client_deno.ts";

/** What one Getvalue said. */
export type ProbeReply =
  | { value: string | null; clock?: number; origin?: string }
  | { error: string };

type Job =
  | { op: "get"; targets: string[]; keys: string[] }
  | {
    op: "propagate";
    set: string;
    key: string;
    value: string;
    targets: string[];
    timeoutMs: number;
  };

function split(target: string): [string, number] {
  const at = target.lastIndexOf(":");
  return [target.slice(0, at), Number(target.slice(at + 1))];
}

async function get(target: string, key: string): Promise<ProbeReply> {
  const [host, port] = split(target);
  try {
    const reply = await kvRequest(host, port, { type: "Getvalue", key }, { replyTimeoutMs: 3000 });
    if (reply?.type !== "ValueResponse") return { error: `reply ${JSON.stringify(reply)}` };
    return { value: reply.value, clock: reply.clock, origin: reply.origin };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function main(job: Job): Promise<unknown> {
  if (job.op === "get") {
    const out: Record<string, Record<string, ProbeReply>> = {};
    await Promise.all(job.targets.map(async (t) => {
      out[t] = {};
      for (const key of job.keys) out[t][key] = await get(t, key);
    }));
    return out;
  }
  const [host, port] = split(job.set);
  const t0 = performance.now();
  const reply = await kvRequest(host, port, { type: "Setvalue", key: job.key, value: job.value });
  const setMs = performance.now() - t0;
  if (reply?.type !== "ValueResponse") {
    throw new Error(`Setvalue answered ${JSON.stringify(reply)}`);
  }
  const perTarget: Record<string, number> = {};
  await Promise.all(job.targets.map(async (t) => {
    for (;;) {
      const r = await get(t, job.key);
      const ms = performance.now() - t0;
      if ("value" in r && r.value === job.value) return void (perTarget[t] = ms);
      if (ms > job.timeoutMs) return void (perTarget[t] = -1);
      await sleep(2);
    }
  }));
  const times = Object.values(perTarget);
  return { setMs, allMs: times.includes(-1) ? -1 : Math.max(...times), perTarget };
}

if (import.meta.main) {
  console.log(JSON.stringify(await main(JSON.parse(Deno.args[0]) as Job)));
}
