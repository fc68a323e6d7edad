// placeholder until kv-log merges (theirs wins)
import type { Version } from "./types.ts";
const te = new TextEncoder();
export function compareVersions(a: Version, b: Version): number {
  if (a.clock !== b.clock) return a.clock < b.clock ? -1 : 1;
  if (a.origin === b.origin) return 0;
  const x = te.encode(a.origin), y = te.encode(b.origin);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}
export function isNewer(candidate: Version, stored?: Version): boolean {
  return stored === undefined || compareVersions(candidate, stored) > 0;
}
