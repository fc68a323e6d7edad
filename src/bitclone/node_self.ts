/**
 * The BitClone node's own addresses (spec §C.3): loopback and the external IP with our listening
 * port, the local ends of our sockets, and addresses a self-connection revealed. They are never
 * dialed, stored or gossiped: the address book refuses each one as it is learned.
 *
 * @module
 */

import { addressScope, formatPeerAddress, type PeerAddress } from "./address.ts";

const SELF_MAX = 1024;

/**
 * Our own addresses (the 1,024 most recently learned), each refused by the book.
 *
 * @example Loopback, then a socket's local end
 * ```ts
 * import { OwnAddresses } from "./node_self.ts";
 * import assert from "node:assert/strict";
 * const refused: string[] = [];
 * const own = new OwnAddresses({ refuse: (t) => refused.push(t) }, 8333, undefined);
 * assert.ok(own.has("127.0.0.1:8333") && own.has("[::1]:8333"));
 * own.learnLocal({ ip: "192.0.2.1", v6: false, port: 50000 });
 * assert.ok(own.has("192.0.2.1:8333"));
 * assert.deepEqual(refused, ["127.0.0.1:8333", "[::1]:8333", "192.0.2.1:8333"]);
 * ```
 */
export class OwnAddresses {
  readonly #self = new Set<string>();
  readonly #book: { refuse(text: string): void };
  readonly #listenPort: number;
  readonly #externalIp: string | undefined;

  /** Starts with loopback and the external IP (if any) at `listenPort`. */
  constructor(
    book: { refuse(text: string): void },
    listenPort: number,
    externalIp: string | undefined,
  ) {
    this.#book = book;
    this.#listenPort = listenPort;
    this.#externalIp = externalIp;
    this.add(`127.0.0.1:${listenPort}`);
    this.add(`[::1]:${listenPort}`);
    if (externalIp !== undefined) {
      this.add(
        formatPeerAddress({ ip: externalIp, v6: externalIp.includes(":"), port: listenPort }),
      );
    }
  }

  /**
   * Whether an address (canonical text) is ours.
   *
   * @example Not ours
   * ```ts
   * import { OwnAddresses } from "./node_self.ts";
   * import assert from "node:assert/strict";
   * assert.ok(!new OwnAddresses({ refuse() {} }, 1, undefined).has("192.0.2.9:1"));
   * ```
   */
  has(text: string): boolean {
    return this.#self.has(text);
  }

  /**
   * Every address known to be ours, oldest first.
   *
   * @example With an external IP
   * ```ts
   * import { OwnAddresses } from "./node_self.ts";
   * import assert from "node:assert/strict";
   * const own = new OwnAddresses({ refuse() {} }, 1, "203.0.113.5");
   * assert.deepEqual(own.list(), ["127.0.0.1:1", "[::1]:1", "203.0.113.5:1"]);
   * ```
   */
  list(): string[] {
    return [...this.#self];
  }

  /**
   * Records an address as ours (the oldest goes past 1,024) and has the book refuse it.
   *
   * @example Once only
   * ```ts
   * import { OwnAddresses } from "./node_self.ts";
   * import assert from "node:assert/strict";
   * const own = new OwnAddresses({ refuse() {} }, 1, undefined);
   * own.add("192.0.2.9:1");
   * own.add("192.0.2.9:1");
   * assert.equal(own.list().length, 3);
   * ```
   */
  add(text: string): void {
    if (this.#self.has(text)) return;
    if (this.#self.size >= SELF_MAX) this.#self.delete(this.#self.values().next().value!);
    this.#self.add(text);
    this.#book.refuse(text);
  }

  /**
   * A socket's local end: its IP with our listening port is ours (unless unusable).
   *
   * @example An unusable local end is ignored
   * ```ts
   * import { OwnAddresses } from "./node_self.ts";
   * import assert from "node:assert/strict";
   * const own = new OwnAddresses({ refuse() {} }, 1, undefined);
   * own.learnLocal({ ip: "0.0.0.0", v6: false, port: 5 });
   * assert.equal(own.list().length, 2);
   * ```
   */
  learnLocal(local: PeerAddress): void {
    if (addressScope(local) === "unusable") return;
    this.add(formatPeerAddress({ ip: local.ip, v6: local.v6, port: this.#listenPort }));
  }

  /**
   * Our address as the peer on a socket with this local end can reach it (spec §C.3): the
   * external IP when set, else the local end's IP, else 0.0.0.0; always our listening port.
   *
   * @example From the local end
   * ```ts
   * import { OwnAddresses } from "./node_self.ts";
   * import assert from "node:assert/strict";
   * const own = new OwnAddresses({ refuse() {} }, 8333, undefined);
   * const local = { ip: "192.0.2.1", v6: false, port: 50000 };
   * assert.deepEqual(own.ourAddress(local), { ip: "192.0.2.1", v6: false, port: 8333 });
   * assert.deepEqual(own.ourAddress(undefined), { ip: "0.0.0.0", v6: false, port: 8333 });
   * ```
   */
  ourAddress(local: PeerAddress | undefined): PeerAddress {
    const port = this.#listenPort;
    if (this.#externalIp !== undefined) {
      return { ip: this.#externalIp, v6: this.#externalIp.includes(":"), port };
    }
    if (local !== undefined) return { ip: local.ip, v6: local.v6, port };
    return { ip: "0.0.0.0", v6: false, port };
  }
}
