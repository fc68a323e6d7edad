/**
 * How a bitclone process stops: the first SIGINT, SIGTERM or SIGHUP (the terminal closed), or its
 * parent process going away (see `parent_watch.ts`), aborts one AbortSignal and logs that the stop began; every service then closes
 * its sockets and saves its files. Signals that arrive together are one stop: a Ctrl-C in a
 * terminal reaches every process of the foreground group, and each `deno task` layer forwards it
 * once more, so the program sees two or three SIGINTs within milliseconds. Only a SIGINT arriving
 * `graceMs` or more after the stop began — a deliberate second Ctrl-C — cuts the stop short: it
 * waits for the file writes under way (never a half-written file or a `.tmp` left behind) and
 * exits with code 130. A repeated SIGTERM or SIGHUP never forces: the stop has its own deadline.
 *
 * @module
 */
import { serviceLogger } from "../util/mod.ts";
import { settleFileWrites } from "./files.ts";
import { watchParent } from "./parent_watch.ts";

/** Options of {@linkcode shutdownSignal}. */
export interface ShutdownSignalOptions {
  /** How long after the stop began a SIGINT is still the same stop. @default {1000} */
  graceMs?: number;
  /** Whether to stop when the parent process goes away. @default {true} */
  watchParent?: boolean;
  /** How long a forced exit waits for the file writes under way. @default {2000} */
  forceWaitMs?: number;
}

/**
 * Returns an AbortSignal aborted on the first SIGINT, SIGTERM or SIGHUP, or when the parent exits.
 * Call the returned `dispose` to remove the listeners.
 *
 * @example
 * ```ts
 * import { shutdownSignal } from "./shutdown.ts";
 * import assert from "node:assert/strict";
 * const { signal, dispose } = shutdownSignal({ watchParent: false });
 * assert.equal(signal.aborted, false);
 * dispose();
 * ```
 */
export function shutdownSignal(
  options: ShutdownSignalOptions = {},
): { signal: AbortSignal; dispose: () => void } {
  const { graceMs = 1000, watchParent: parentWatch = true, forceWaitMs = 2000 } = options;
  const controller = new AbortController();
  const signals: Deno.Signal[] = Deno.build.os === "windows"
    ? ["SIGINT"]
    : ["SIGINT", "SIGTERM", "SIGHUP"];
  let stoppedAt: number | undefined;
  let forcing = false;
  const log = () => serviceLogger("bitclone");
  const stop = (why: string) => {
    if (stoppedAt !== undefined) return;
    stoppedAt = performance.now();
    log().info("{why}: stopping (Ctrl-C again to stop at once)", { why });
    controller.abort(new DOMException("Interrupted", "AbortError"));
  };
  const handlers = signals.map((s) => {
    const handler = () => {
      if (stoppedAt === undefined) return stop(s);
      if (s !== "SIGINT" || forcing || performance.now() - stoppedAt < graceMs) return;
      forcing = true;
      log().warn("second Ctrl-C: stopping at once");
      void settleFileWrites(forceWaitMs).finally(() => Deno.exit(130));
    };
    Deno.addSignalListener(s, handler);
    return [s, handler] as const;
  });
  const watch = parentWatch ? watchParent({ onGone: stop }) : undefined;
  return {
    signal: controller.signal,
    dispose: () => {
      watch?.dispose();
      for (const [s, handler] of handlers) Deno.removeSignalListener(s, handler);
    },
  };
}
