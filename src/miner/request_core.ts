/**
 * The request client (spec `miner.md` §5.3, §6) as a sans-I/O datagram core over an LSP client
 * endpoint: connect, send one Request, wait for the first Result or for the loss of the
 * connection, close (waiting at most `closeTimeoutMillis` for the last Acks), and report which.
 * Progress messages (the `"Progress":true` extension, see `message.ts`) are reported when the
 * Request asked for them; any other message is reported as ignored.
 *
 * One core is one connection attempt on one socket. When the server does not answer, the core
 * says whether to try again (`retry`: the adapter makes a fresh socket and the next attempt's
 * core, `specs/lsp.md` §16: a lost Connect-Ack against the reference server) or to give up (the
 * outcome is `disconnected`).
 *
 * @module
 */
import type { Addr, DatagramCore, EventSource, Millis, Transmit } from "../core/mod.ts";
import { OutputQueue } from "../core/mod.ts";
import { TimeKeeper } from "../core/mod.ts";
import { LspEndpoint } from "../lsp/mod.ts";
import { LspConnectError, LspConnectionError } from "../lsp/mod.ts";
import { type LspParams, lspParams } from "../lsp/mod.ts";
import { checkInt } from "../util/mod.ts";
import type { Prng } from "../util/mod.ts";
import { type ProgressMessage, readMessage } from "./message.ts";

/**
 * What a request found: the Result, or that the connection was lost (or never made) before one
 * arrived.
 */
export type RequestOutcome =
  | { readonly type: "result"; readonly hash: bigint; readonly nonce: bigint }
  | { readonly type: "disconnected"; readonly detail: string };

/**
 * Options of {@linkcode RequestCore}.
 */
export interface RequestCoreOptions {
  /** The server's resolved address. */
  serverAddr: Addr;
  /** The server as the user named it, for messages. */
  hostport: string;
  /** Randomness (the ISN, 0..255, unless `isn` is given). */
  prng: Prng;
  /** The current time. */
  now: Millis;
  /** The encoded Request to send once connected. */
  request: Uint8Array;
  /** Whether `request` asks for Progress messages (only then are they reported). @default {false} */
  wantProgress?: boolean;
  /** LSP parameters; missing fields take the reference defaults. */
  params?: Partial<LspParams>;
  /** The initial sequence number. @default {a random integer in 0..255} */
  isn?: number;
  /** This connection attempt (1-based). @default {1} */
  attempt?: number;
  /** Connection attempts before giving up. @default {2} */
  attempts?: number;
  /** Longest wait for the close after the Result, in ms. @default {the epoch length} */
  closeTimeoutMillis?: number;
}

/**
 * What the request core reports:
 *
 * - `connected`: the connection is made and the Request sent;
 * - `progress`: a Progress message (only when the Request asked for them);
 * - `ignored`: a message that is neither a Result nor a wanted Progress;
 * - `retry`: this attempt got no answer: make the next one on a fresh socket;
 * - `done`: the outcome; the core will not send again.
 */
export type RequestEvent =
  | { readonly type: "connected"; readonly connId: number }
  | { readonly type: "progress"; readonly progress: ProgressMessage }
  | { readonly type: "ignored"; readonly detail: string }
  | { readonly type: "retry"; readonly detail: string }
  | { readonly type: "done"; readonly outcome: RequestOutcome };

/**
 * A request client on one connection attempt.
 *
 * @example A client whose server never answers, on its last attempt
 * ```ts
 * import { RequestCore } from "./request_core.ts";
 * import { encodeMessage, requestMessage } from "./message.ts";
 * import { Prng } from "../util/prng.ts";
 * import assert from "node:assert/strict";
 * const client = new RequestCore({
 *   serverAddr: "S", hostport: "server:1", prng: Prng.seeded(1), now: 0,
 *   request: encodeMessage(requestMessage("msg", 0n, 2n)), params: { epochLimit: 2, epochMillis: 100 },
 *   attempt: 2, attempts: 2,
 * });
 * for (let t = 100; t <= 300; t += 100) client.handleTick(t);
 * assert.deepEqual(client.pollEvent(), {
 *   type: "done",
 *   outcome: { type: "disconnected", detail: "Cannot connect to server:1: no answer within 2 epochs" },
 * });
 * ```
 */
export class RequestCore implements DatagramCore, EventSource<RequestEvent> {
  readonly #endpoint: LspEndpoint;
  readonly #hostport: string;
  readonly #epochLimit: number;
  readonly #request: Uint8Array;
  readonly #wantProgress: boolean;
  readonly #attempt: number;
  readonly #attempts: number;
  readonly #closeTimeout: number;
  readonly #time: TimeKeeper;
  readonly #events = new OutputQueue<RequestEvent>();
  #connId = 0;
  #outcome: RequestOutcome | undefined;
  #closeBy: Millis | undefined;
  #finished = false;

  /**
   * Starts connecting: a Connect is waiting in `pollTransmit()`.
   *
   * @throws {TypeError} On parameters of the wrong type.
   * @throws {RangeError} On out-of-range parameters.
   */
  constructor(options: RequestCoreOptions) {
    const params = lspParams(options.params ?? {});
    this.#hostport = options.hostport;
    this.#epochLimit = params.epochLimit;
    this.#request = options.request;
    this.#wantProgress = options.wantProgress ?? false;
    this.#attempt = options.attempt ?? 1;
    this.#attempts = options.attempts ?? 2;
    this.#closeTimeout = checkInt(
      "closeTimeoutMillis",
      options.closeTimeoutMillis ?? params.epochMillis,
      0,
      2 ** 31 - 1,
      "send the Request",
    );
    this.#time = new TimeKeeper(options.now);
    this.#endpoint = LspEndpoint.client(options.serverAddr, params, options.prng, options.now, {
      isn: options.isn ?? options.prng.int(0, 255),
    });
  }

  /** True once a `done` or `retry` event was given: the core will not send again. */
  get finished(): boolean {
    return this.#finished;
  }

  /** Feeds one received datagram in. */
  handleDatagram(from: Addr, bytes: Uint8Array, now: Millis): void {
    if (this.#finished) return;
    const at = this.#time.advance(now);
    this.#endpoint.handleDatagram(from, bytes, at);
    this.#pump(at);
  }

  /** Runs the LSP epoch if due; gives up waiting for the close once its time is up. */
  handleTick(now: Millis): void {
    if (this.#finished) return;
    const at = this.#time.advance(now);
    this.#endpoint.handleTick(at);
    this.#pump(at);
    if (!this.#finished && this.#closeBy !== undefined && at >= this.#closeBy) this.#finish();
  }

  /** The next datagram to send. */
  pollTransmit(): Transmit | undefined {
    return this.#endpoint.pollTransmit(); // the Ack of the Result may still be waiting
  }

  /** The next LSP epoch or the end of the wait for the close, or `undefined` once finished. */
  nextTimeout(): Millis | undefined {
    if (this.#finished) return undefined;
    const a = this.#endpoint.nextTimeout(), b = this.#closeBy;
    return a === undefined ? b : b === undefined ? a : Math.min(a, b);
  }

  /** The next event. */
  pollEvent(): RequestEvent | undefined {
    return this.#events.shift();
  }

  #pump(now: Millis): void {
    for (let e = this.#endpoint.pollEvent(); e && !this.#finished; e = this.#endpoint.pollEvent()) {
      switch (e.type) {
        case "connected":
          this.#connId = e.connId;
          this.#events.push({ type: "connected", connId: e.connId });
          try {
            this.#endpoint.write(e.connId, this.#request, now);
          } catch (err) {
            if (!(err instanceof LspConnectionError)) throw err;
            this.#answer({ type: "disconnected", detail: err.message }, now);
          }
          break;
        case "message":
          if (this.#outcome === undefined) this.#onMessage(e.payload, now);
          break;
        case "connectFailed":
          this.#connectFailed();
          break;
        case "lost":
        case "closed":
          if (this.#connId === 0) {
            this.#connectFailed();
            break;
          }
          this.#outcome ??= {
            type: "disconnected",
            detail: new LspConnectionError("read", this.#connId, "lost").message,
          };
          this.#finish();
          break;
      }
    }
  }

  #onMessage(payload: Uint8Array, now: Millis): void {
    const r = readMessage(payload);
    if (r.ok && r.message.type === "result") {
      this.#answer({ type: "result", hash: r.message.hash, nonce: r.message.nonce }, now);
    } else if (r.ok && r.message.type === "progress") {
      if (this.#wantProgress) this.#events.push({ type: "progress", progress: r.message });
    } else {
      const detail = r.ok ? `a message of type ${r.message.type}` : r.detail;
      this.#events.push({ type: "ignored", detail });
    }
  }

  /** The outcome is known: close, waiting at most the close timeout for the last Acks. */
  #answer(outcome: RequestOutcome, now: Millis): void {
    this.#outcome = outcome;
    try {
      this.#endpoint.close(this.#connId, now);
    } catch (err) {
      if (!(err instanceof LspConnectionError)) throw err;
      this.#finish(); // already gone
      return;
    }
    this.#closeBy = now + this.#closeTimeout;
    if (this.#endpoint.isFinished) this.#finish();
  }

  #connectFailed(): void {
    const detail = new LspConnectError(this.#hostport, this.#epochLimit).message;
    if (this.#attempt < this.#attempts) {
      this.#finished = true;
      this.#events.push({ type: "retry", detail });
      return;
    }
    this.#outcome = { type: "disconnected", detail };
    this.#finish();
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#events.push({ type: "done", outcome: this.#outcome! });
  }
}
