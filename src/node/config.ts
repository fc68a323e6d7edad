/**
 * The node's optional config file (JSON). Flags win over the file; the file wins over defaults.
 *
 * ```json
 * {
 *   "hostname": "0.0.0.0",
 *   "services": {
 *     "lsp": { "port": 9999 },
 *     "tracker": { "enabled": false }
 *   }
 * }
 * ```
 *
 * Every key is optional. A service section may hold `port` (0 to 65535), `enabled` (boolean) and the
 * service's own settings, passed to it untouched.
 *
 * @module
 */

/** A parsed config file. */
export interface NodeConfig {
  hostname?: string;
  services: Record<string, ServiceConfig>;
}

/** One service's section. */
export interface ServiceConfig {
  port?: number;
  enabled?: boolean;
  settings: Record<string, unknown>;
}

/** The config file is unreadable or not of the documented shape. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Validates the text of a config file against the known service names.
 *
 * @example
 * ```ts
 * import { parseNodeConfig } from "./config.ts";
 * import assert from "node:assert/strict";
 * const cfg = parseNodeConfig('{"services":{"lsp":{"port":1}}}', ["lsp"], "node.json");
 * assert.equal(cfg.services.lsp.port, 1);
 * ```
 */
export function parseNodeConfig(
  text: string,
  knownServices: readonly string[],
  source: string,
): NodeConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${source}: not valid JSON (${(err as Error).message})`);
  }
  if (!isRecord(raw)) throw new ConfigError(`${source}: the top level must be an object`);
  for (const key of Object.keys(raw)) {
    if (key !== "hostname" && key !== "services" && key !== "$comment") {
      throw new ConfigError(`${source}: unknown key '${key}' (known: hostname, services)`);
    }
  }
  const config: NodeConfig = { services: {} };
  if (raw.hostname !== undefined) {
    if (typeof raw.hostname !== "string" || raw.hostname === "") {
      throw new ConfigError(`${source}: 'hostname' must be a non-empty string`);
    }
    config.hostname = raw.hostname;
  }
  if (raw.services !== undefined) {
    if (!isRecord(raw.services)) throw new ConfigError(`${source}: 'services' must be an object`);
    for (const [name, section] of Object.entries(raw.services)) {
      if (!knownServices.includes(name)) {
        throw new ConfigError(
          `${source}: unknown service '${name}' (known: ${knownServices.join(", ") || "none"})`,
        );
      }
      if (!isRecord(section)) {
        throw new ConfigError(`${source}: services.${name} must be an object`);
      }
      const { port, enabled, ...settings } = section;
      const sc: ServiceConfig = { settings };
      if (port !== undefined) {
        if (!Number.isInteger(port) || (port as number) < 0 || (port as number) > 65535) {
          throw new ConfigError(`${source}: services.${name}.port must be an integer 0..65535`);
        }
        sc.port = port as number;
      }
      if (enabled !== undefined) {
        if (typeof enabled !== "boolean") {
          throw new ConfigError(`${source}: services.${name}.enabled must be true or false`);
        }
        sc.enabled = enabled;
      }
      config.services[name] = sc;
    }
  }
  return config;
}

/**
 * Reads and validates a config file.
 *
 * @example
 * ```ts ignore
 * import { loadNodeConfig } from "./config.ts";
 * const cfg = await loadNodeConfig("bitclone.json", ["lsp", "peer", "tracker"]);
 * ```
 */
export async function loadNodeConfig(
  path: string,
  knownServices: readonly string[],
): Promise<NodeConfig> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    const why = err instanceof Deno.errors.NotFound ? "no such file" : (err as Error).message;
    throw new ConfigError(`cannot read config file ${path}: ${why}`);
  }
  return parseNodeConfig(text, knownServices, path);
}
