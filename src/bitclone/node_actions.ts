/**
 * The BitClone node's outbox: the actions `PeerNode.pollAction()` hands its driver, in order, with
 * log lines bounded (10,000 waiting at most; later ones are counted as dropped).
 *
 * @module
 */

import { OutputQueue } from "../core/mod.ts";
import { assert } from "../util/mod.ts";
import type { PeerNodeAction } from "./peer_node_types.ts";

const LOG_QUEUE_MAX = 10_000;
/** Actions of any kind waiting at once: the driver drains them after every input. */
const ACTIONS_MAX = 1 << 20;

/** A log level of the node. */
export type NodeLogLevel = "error" | "warn" | "info" | "debug";

/**
 * The node's action queue (first in, first out).
 *
 * @example A log line and a close
 * ```ts
 * import { ActionQueue } from "./node_actions.ts";
 * import assert from "node:assert/strict";
 * const q = new ActionQueue();
 * q.log("info", "hello", { key: 1 });
 * q.push({ type: "close", conn: 1, reason: "bye" });
 * assert.deepEqual(q.poll(), { type: "log", level: "info", message: "hello", fields: { key: 1 } });
 * assert.equal(q.poll()?.type, "close");
 * assert.equal(q.poll(), undefined);
 * assert.equal(q.logsDropped, 0);
 * ```
 */
export class ActionQueue {
  readonly #actions = new OutputQueue<PeerNodeAction>({ capacity: ACTIONS_MAX });
  #logsQueued = 0;
  #logsDropped = 0;

  /**
   * Log actions dropped because 10,000 waited undrained.
   *
   * @example Past the bound
   * ```ts
   * import { ActionQueue } from "./node_actions.ts";
   * import assert from "node:assert/strict";
   * const q = new ActionQueue();
   * for (let i = 0; i < 10_001; i++) q.log("debug", "x");
   * assert.equal(q.logsDropped, 1);
   * ```
   */
  get logsDropped(): number {
    return this.#logsDropped;
  }

  /**
   * Queues an action (a log line only while fewer than 10,000 wait).
   *
   * @example A save
   * ```ts
   * import { ActionQueue } from "./node_actions.ts";
   * import assert from "node:assert/strict";
   * const q = new ActionQueue();
   * q.push({ type: "save", peers: [] });
   * assert.deepEqual(q.poll(), { type: "save", peers: [] });
   * ```
   */
  push(action: PeerNodeAction): void {
    if (action.type === "log") {
      if (this.#logsQueued >= LOG_QUEUE_MAX) {
        this.#logsDropped++;
        return;
      }
      this.#logsQueued++;
    }
    const queued = this.#actions.push(action);
    assert(queued, "the node's actions must be drained");
  }

  /**
   * Queues a log line (`fields` only when given).
   *
   * @example Without fields
   * ```ts
   * import { ActionQueue } from "./node_actions.ts";
   * import assert from "node:assert/strict";
   * const q = new ActionQueue();
   * q.log("warn", "careful");
   * assert.deepEqual(q.poll(), { type: "log", level: "warn", message: "careful" });
   * ```
   */
  log(level: NodeLogLevel, message: string, fields?: Record<string, unknown>): void {
    this.push(
      fields === undefined
        ? { type: "log", level, message }
        : { type: "log", level, message, fields },
    );
  }

  /**
   * The next action, or `undefined`.
   *
   * @example Empty
   * ```ts
   * import { ActionQueue } from "./node_actions.ts";
   * import assert from "node:assert/strict";
   * assert.equal(new ActionQueue().poll(), undefined);
   * ```
   */
  poll(): PeerNodeAction | undefined {
    const a = this.#actions.shift();
    if (a?.type === "log") this.#logsQueued--;
    return a;
  }
}
