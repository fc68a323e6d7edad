/**
 * Stops a process whose parent went away, as Linux's `PR_SET_PDEATHSIG` would:
 * {@linkcode watchParent} records `Deno.ppid` at start and calls `onGone` once when it changed
 * (the parent exited and the process was re-parented to init or a subreaper). A process whose
 * parent is already init at start (started by `setsid`, a daemon manager, a container runtime) is
 * not watched.
 *
 * Only the direct parent can be watched: bitclone runs with `--allow-net --allow-read
 * --allow-write`, and Deno asks for `--allow-all` to read `/proc/<pid>/…`, so the processes above
 * the parent are out of sight. Under `npx -y deno@2.9.6 task start` the parent is a `deno task`
 * process, which outlives a `kill -TERM` of npm alone: the README says how to stop that chain.
 *
 * @module
 */

/** Options of {@linkcode watchParent}. */
export interface WatchParentOptions {
  /** Called once when the parent went away, with a line saying so. */
  onGone: (why: string) => void;
  /** How often to look. @default {1000} */
  intervalMs?: number;
  /** Reads the parent's pid (tests replace it). @default {() => Deno.ppid} */
  parentPid?: () => number;
}

/** A running watch. */
export interface ParentWatch {
  /** The parent watched, or `undefined` when there is none to watch (init). */
  readonly parent: number | undefined;
  /** Stops watching. */
  dispose(): void;
}

/**
 * Starts watching the parent process. The timer does not keep the process alive.
 *
 * @example
 * ```ts
 * import { watchParent } from "./parent_watch.ts";
 * import assert from "node:assert/strict";
 * const controller = new AbortController();
 * const watch = watchParent({ onGone: () => controller.abort(), parentPid: () => 4242 });
 * assert.equal(watch.parent, 4242);
 * watch.dispose(); // on exit
 * // A process started by init (setsid, a daemon manager) is not watched:
 * assert.equal(watchParent({ onGone: () => {}, parentPid: () => 1 }).parent, undefined);
 * ```
 */
export function watchParent(options: WatchParentOptions): ParentWatch {
  const { onGone, intervalMs = 1000, parentPid = () => Deno.ppid } = options;
  const parent = parentPid();
  if (parent <= 1) return { parent: undefined, dispose: () => {} };
  let timer: ReturnType<typeof setInterval> | undefined = setInterval(() => {
    const now = parentPid();
    if (now === parent) return;
    clearInterval(timer);
    timer = undefined;
    onGone(`parent process ${parent} exited`);
  }, intervalMs);
  Deno.unrefTimer(timer);
  return {
    parent,
    dispose: () => {
      clearInterval(timer);
      timer = undefined;
    },
  };
}
