/**
 * The handshake state of one BitClone connection (spec §A.6, §C.2, §C.3): `version` and `verack`
 * both ways, the listener's delayed `version`, self-connection detection, stray lines and the
 * handshake deadline. Lines are dispatched through the `handshaking` row of the transition table
 * (`peer_conn_states.ts`); `PeerConn` moves on to the established state once
 * {@linkcode PeerHandshake.complete} holds.
 *
 * @module
 */

import { assert } from "../util/mod.ts";
import type { PeerAddress } from "./address.ts";
import type { BitcloneMessage, DecodeResult, VersionMessage } from "./messages.ts";
import type { PeerConnContext } from "./peer_conn_context.ts";
import { ourVersion, type PeerConnConfig, unixSeconds } from "./peer_conn_options.ts";
import { lineRule } from "./peer_conn_states.ts";
import type { Millis, PeerInfo } from "./peer_conn_types.ts";

const MAX_STRAY_PRE_HANDSHAKE = 20;

/**
 * The handshake of one connection: what was sent and received, and the peer's `version`.
 *
 * @example A listener answers `version` with `verack`, then its own `version`
 * ```ts
 * import { PeerConnContext } from "./peer_conn_context.ts";
 * import { resolvePeerConnOptions } from "./peer_conn_options.ts";
 * import { PeerHandshake } from "./peer_handshake.ts";
 * import { decodeMessage } from "./messages.ts";
 * import { Prng } from "../util/prng.ts";
 * import assert from "node:assert/strict";
 * const a = { ip: "192.0.2.1", v6: false, port: 4000 };
 * const config = resolvePeerConnOptions({
 *   role: "inbound", prng: Prng.seeded(1), now: 0, remoteAddress: a, localAddress: a, versionReplyDelayMs: 0,
 * });
 * const ctx = new PeerConnContext(config.maxQueuedBytes);
 * const handshake = new PeerHandshake(config, ctx);
 * handshake.handleLine(decodeMessage("version|3|1|0|192.0.2.1:4000|192.0.2.1:4001|9|x|0"), 0);
 * assert.equal(new TextDecoder().decode(ctx.pollTransmit()), "verack|9\r\n");
 * assert.match(new TextDecoder().decode(ctx.pollTransmit()), /^version\|3\|1\|/);
 * assert.equal(handshake.complete, false);
 * handshake.handleLine(decodeMessage(`verack|${config.nonce}`), 0);
 * assert.equal(handshake.complete, true);
 * assert.equal(handshake.peer?.listenAddress?.port, 4001);
 * ```
 */
export class PeerHandshake {
  readonly #config: PeerConnConfig;
  readonly #ctx: PeerConnContext;
  #sentVersion = false;
  #gotVersion = false;
  #sentVerack = false;
  #gotVerack = false;
  #versionReplyAt: Millis | undefined;
  #stray = 0;
  #peer: PeerInfo | undefined;

  /** Starts the handshake: a dialer queues its `version` at once. */
  constructor(config: PeerConnConfig, ctx: PeerConnContext) {
    this.#config = config;
    this.#ctx = ctx;
    if (config.role === "outbound") this.#sendVersion(config.openedAt);
  }

  /** The peer's details once its `version` arrived, else `undefined`. */
  get peer(): PeerInfo | undefined {
    return this.#peer;
  }

  /** Whether both sides sent and received `version` and `verack`. */
  get complete(): boolean {
    return this.#sentVersion && this.#gotVersion && this.#sentVerack && this.#gotVerack;
  }

  /** The handshake deadline, or the delayed `version` if sooner. */
  nextTimeout(): Millis {
    return Math.min(
      this.#config.openedAt + this.#config.handshakeTimeoutMs,
      this.#versionReplyAt ?? Infinity,
    );
  }

  /** Closes at the deadline; sends the delayed `version` when due. */
  handleTick(now: Millis): void {
    if (now >= this.#config.openedAt + this.#config.handshakeTimeoutMs) {
      this.#ctx.finish({ kind: "handshakeTimeout" });
      return;
    }
    if (this.#versionReplyAt !== undefined && now >= this.#versionReplyAt) {
      this.#versionReplyAt = undefined;
      this.#sendVersion(now);
    }
  }

  /** Handles one received line (decoded or not). */
  handleLine(result: DecodeResult, now: Millis): void {
    if (result.ok) {
      this.#handleMessage(result.message, now);
      return;
    }
    const error = result.error;
    if (error.kind === "malformed" && error.command === "version" && !this.#gotVersion) {
      this.#ctx.queueReject({ code: 400, reason: "bad version", details: "expected 8 fields" });
      this.#ctx.finish({ kind: "badVersion" });
      return;
    }
    this.#strayLine(error.command);
  }

  #handleMessage(m: BitcloneMessage, now: Millis): void {
    const ctx = this.#ctx;
    switch (lineRule("handshaking", m.type)) {
      case "stray":
        this.#strayLine(m.type === "blockLayer" ? m.command : m.type);
        return;
      case "report":
        if (m.type === "reject") {
          ctx.emit({ type: "rejectReceived", code: m.code, reason: m.reason, details: m.details });
          if (
            this.#config.role === "outbound" && m.code !== undefined && m.code >= 500 &&
            m.code <= 599
          ) {
            ctx.finish({ kind: "busy", code: m.code });
          }
        } else if (m.type === "message") {
          ctx.reportMessage(m);
        }
        return;
      case "handshake":
        if (m.type === "version") this.#onVersion(m, now);
        else if (m.type === "verack") this.#onVerack(m.nonce);
        return;
      default:
        assert(false, `no handshake rule for ${m.type}`);
    }
  }

  #onVerack(nonce: string | undefined): void {
    if (!this.#sentVersion) {
      this.#strayLine("verack");
      return;
    }
    if (this.#gotVerack) {
      this.#ctx.emit({ type: "ignored", command: "verack", why: "redundant verack" });
    } else if (nonce !== this.#config.nonce) {
      this.#ctx.emit({ type: "ignored", command: "verack", why: "nonce differs (accepted)" });
    }
    this.#gotVerack = true;
  }

  #strayLine(command: string): void {
    this.#ctx.stats.strayLines++;
    this.#stray++;
    if (this.#stray >= MAX_STRAY_PRE_HANDSHAKE) {
      this.#ctx.finish({ kind: "strayLines", count: this.#stray });
    } else {
      this.#ctx.emit({ type: "ignored", command, why: "before the handshake" });
    }
  }

  #onVersion(m: VersionMessage, now: Millis): void {
    const config = this.#config;
    if (this.#gotVersion) {
      this.#ctx.emit({ type: "ignored", command: "version", why: "redundant version" });
      return;
    }
    this.#gotVersion = true;
    if (m.nonce !== undefined) {
      const own = config.role === "outbound"
        ? m.nonce === config.nonce
        : config.ownNonces?.has(m.nonce) === true;
      if (own) {
        this.#ctx.finish({ kind: "selfConnection", nonce: m.nonce });
        return;
      }
    }
    const remote = config.remote;
    let listenAddress: PeerAddress | undefined;
    if (config.role === "outbound") listenAddress = remote;
    else if (m.sender !== undefined) {
      listenAddress = { ip: remote.ip, v6: remote.v6, port: m.sender.port };
    }
    this.#peer = {
      role: config.role,
      versionMessage: m,
      protocolVersion: m.version,
      services: m.services,
      userAgent: m.userAgent,
      nonce: m.nonce,
      localNonce: config.nonce,
      remoteAddress: remote,
      listenAddress,
      clockOffsetSec: m.time === undefined ? undefined : m.time - unixSeconds(config, now),
    };
    this.#ctx.send({ type: "verack", nonce: m.nonce });
    this.#sentVerack = true;
    if (config.role === "inbound" && !this.#sentVersion) {
      if (config.versionReplyDelayMs === 0) this.#sendVersion(now);
      else this.#versionReplyAt = now + config.versionReplyDelayMs;
    }
  }

  #sendVersion(now: Millis): void {
    assert(!this.#sentVersion, "version sent twice");
    this.#sentVersion = true;
    this.#ctx.send(ourVersion(this.#config, now));
  }
}
