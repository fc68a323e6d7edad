/**
 * The status service of `bitclone node` (`status`, HTTP on TCP 8080): read-only, GET and HEAD
 * only.
 *
 * - `GET /status.json`: the status document (`document.ts`);
 * - `GET /metrics`: the same in the Prometheus text format (`metrics.ts`);
 * - `GET /`: the page that shows it and refreshes itself (`page.ts`).
 *
 * Any other method is answered 405 (with `Allow: GET, HEAD`), any other path 404. Nothing it
 * serves can change the node. It has no settings.
 *
 * @module
 */
import { bindError, type NodeView, type ServiceDefinition } from "../node/mod.ts";
import { VERSION } from "../version.ts";
import { buildStatusDocument, type StatusDocument, statusJson } from "./document.ts";
import { createStatusMetrics } from "./metrics.ts";
import { STATUS_PAGE_CSP, STATUS_PAGE_HTML } from "./page.ts";

/** The status service's default TCP port. */
export const DEFAULT_STATUS_PORT = 8080;

const PATHS = ["/", "/status.json", "/metrics"] as const;

/** Options of {@linkcode serveStatus}. */
export interface ServeStatusOptions {
  /** The address to bind. */
  hostname: string;
  /** The TCP port (0: any free port). */
  port: number;
  /** The node whose services it reports. */
  node: NodeView;
  /** Abort to stop. */
  signal: AbortSignal;
  /** The service name in bind errors. @default {"status"} */
  serviceName?: string;
  /** Called with an error that a request raised (it is answered 500). */
  onError?: (err: unknown) => void;
}

/** A running status server. */
export interface StatusServer {
  /** The bound port. */
  readonly port: number;
  /** Resolves once it stopped. */
  readonly finished: Promise<void>;
  /** Requests answered, by path (`other` for the rest). */
  requests(): Record<string, number>;
  /** The document now. */
  document(): StatusDocument;
}

const COMMON_HEADERS = {
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

/**
 * Starts the HTTP server.
 *
 * @param options Where to listen, the node, the stop signal.
 * @returns The running server once it listens.
 * @throws {ServiceStartError} When the port cannot be bound.
 *
 * @example
 * ```ts ignore
 * const controller = new AbortController();
 * const node = { startedAt: Date.now(), hostname: "127.0.0.1", disabled: [], services: () => [] };
 * const server = serveStatus({ hostname: "127.0.0.1", port: 0, node, signal: controller.signal });
 * console.log(await (await fetch(`http://127.0.0.1:${server.port}/status.json`)).json());
 * controller.abort();
 * await server.finished;
 * ```
 */
export function serveStatus(options: ServeStatusOptions): StatusServer {
  const { hostname, port, node, signal, serviceName = "status", onError } = options;
  const counts: Record<string, number> = {};
  const metrics = createStatusMetrics();
  let boundPort = port;
  const document = (): StatusDocument =>
    buildStatusDocument({
      now: Date.now(),
      version: VERSION,
      hostname: node.hostname,
      nodeStartedAt: node.startedAt,
      disabled: node.disabled,
      services: node.services().map((s) => ({
        name: s.name,
        description: s.description,
        state: s.state,
        listening: s.listening,
        startedAt: s.startedAt,
        status: s.name === serviceName
          ? () => ({ port: boundPort, requests: { ...counts } })
          : () => s.status(),
      })),
    });

  const handle = async (req: Request): Promise<Response> => {
    const path = new URL(req.url).pathname;
    const known = (PATHS as readonly string[]).includes(path);
    counts[known ? path : "other"] = (counts[known ? path : "other"] ?? 0) + 1;
    if (req.method !== "GET" && req.method !== "HEAD") {
      return new Response("method not allowed: the status service is read-only\n", {
        status: 405,
        headers: { ...COMMON_HEADERS, allow: "GET, HEAD", "content-type": "text/plain" },
      });
    }
    if (path === "/status.json") {
      return new Response(statusJson(document()), {
        headers: { ...COMMON_HEADERS, "content-type": "application/json; charset=utf-8" },
      });
    }
    if (path === "/metrics") {
      const text = await metrics.render(document());
      return new Response(text, {
        headers: { ...COMMON_HEADERS, "content-type": metrics.contentType },
      });
    }
    if (path === "/") {
      return new Response(STATUS_PAGE_HTML, {
        headers: {
          ...COMMON_HEADERS,
          "content-type": "text/html; charset=utf-8",
          "content-security-policy": STATUS_PAGE_CSP,
          "x-frame-options": "DENY",
        },
      });
    }
    return new Response("not found: try /, /status.json or /metrics\n", {
      status: 404,
      headers: { ...COMMON_HEADERS, "content-type": "text/plain" },
    });
  };

  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({
      hostname,
      port,
      signal,
      onListen: () => {},
      onError(err) {
        onError?.(err);
        return new Response("internal error\n", { status: 500, headers: COMMON_HEADERS });
      },
    }, handle);
  } catch (err) {
    throw bindError(serviceName, "tcp", { hostname, port }, err);
  }
  boundPort = server.addr.port;
  return {
    port: boundPort,
    finished: server.finished,
    requests: () => ({ ...counts }),
    document,
  };
}

/**
 * The node's status service.
 *
 * @example
 * ```ts
 * import { statusService } from "./service_deno.ts";
 * import assert from "node:assert/strict";
 * assert.equal(statusService.name, "status");
 * assert.equal(statusService.defaultPort, 8080);
 * ```
 */
export const statusService: ServiceDefinition = {
  name: "status",
  description: "status page, /status.json and /metrics (HTTP, read-only)",
  transport: "tcp",
  defaultPort: DEFAULT_STATUS_PORT,
  start(ctx) {
    const node: NodeView = ctx.node ?? {
      startedAt: Date.now(),
      hostname: ctx.hostname,
      disabled: [],
      services: () => [],
    };
    const server = serveStatus({
      hostname: ctx.hostname,
      port: ctx.port,
      node,
      signal: ctx.signal,
      onError: (err) =>
        ctx.log.error("request failed: {error}", {
          error: err instanceof Error ? err.message : String(err),
        }),
    });
    return Promise.resolve({
      listening: [{ transport: "tcp", hostname: ctx.hostname, port: server.port }],
      closed: server.finished,
      status: () => ({ port: server.port, requests: server.requests() }),
    });
  },
};
