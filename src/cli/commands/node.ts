/**
 * `bitclone node`: every service side by side in one process (what `deno task start` runs).
 *
 * @module
 */
import { portValue } from "../mod.ts";
import { type CommandSpec, type OptionSpec, UsageError } from "../mod.ts";
import { ConfigError, loadNodeConfig, type NodeConfig } from "../../node/mod.ts";
import { formatListen } from "../../node/mod.ts";
import { NodeError, startNode } from "../../node/mod.ts";
import { type ServiceDefinition, ServiceSettingsError, ServiceStartError } from "../../node/mod.ts";

/** The node's default data directory, in the working directory (ignored by git). */
export const DEFAULT_NODE_DATA_DIR = "data";

/**
 * Builds the `node` command for a list of services (the real list is `NODE_SERVICES`; tests may
 * pass their own).
 *
 * @example
 * ```ts
 * import { nodeCommand } from "./node.ts";
 * import assert from "node:assert/strict";
 * const cmd = nodeCommand([]);
 * assert.equal(cmd.name, "node");
 * ```
 */
export function nodeCommand(services: readonly ServiceDefinition[]): CommandSpec {
  const options: Record<string, OptionSpec> = {
    config: {
      type: "string",
      valueName: "FILE",
      description: "JSON config file (hostname, per-service port/enabled/settings)",
    },
    hostname: {
      type: "string",
      valueName: "ADDR",
      description: "Address every service binds (default: 0.0.0.0, or the config file's)",
    },
    "data-dir": {
      type: "string",
      valueName: "DIR",
      default: DEFAULT_NODE_DATA_DIR,
      description: "Where the services keep their state (the peer's address book peers.json); " +
        "created if missing",
    },
    disable: {
      type: "string",
      valueName: "NAME",
      multiple: true,
      description: "Do not start this service (may be repeated)",
    },
  };
  for (const s of services) {
    options[`${s.name}-port`] = {
      type: "string",
      valueName: "PORT",
      description:
        `${s.transport.toUpperCase()} port of the ${s.description} (default: ${s.defaultPort})`,
    };
    for (const f of s.flags ?? []) {
      options[f.name] = { type: "string", valueName: f.valueName, description: f.description };
    }
  }
  const list = services.length
    ? services.map((s) => `  ${s.name.padEnd(8)} ${s.transport} ${s.defaultPort}  ${s.description}`)
      .join("\n")
    : "  (none yet)";
  return {
    name: "node",
    summary: "Run every bitclone service side by side in one process",
    description: `Services and their default ports:\n${list}\n\n` +
      "At start it prints what listens where. Ctrl-C or SIGTERM stops every service cleanly " +
      "(files saved, sockets closed) within 2 s and exits 0, or 1 if a file could not be saved; " +
      "so does the end of its parent process (as with PR_SET_PDEATHSIG). Signals arriving " +
      "together are one stop; a second Ctrl-C a second after the stop began exits at once (130). " +
      "The peer's address book is kept in --data-dir; the committed peers.json in the working " +
      "directory is only read, as the lab's seed list. A service that cannot start (a port in " +
      "use) stops the node with exit code 1.",
    options,
    examples: [
      "bitclone node",
      "bitclone node --miner-port 10999 --hostname 127.0.0.1",
      "bitclone node --peer-port 0 --data-dir /var/lib/bitclone",
      "bitclone node --config bitclone.json --log-format json",
    ],
    async run(ctx) {
      const path = "bitclone node";
      const names = services.map((s) => s.name);
      const disabled = (ctx.values.disable as string[] | undefined) ?? [];
      for (const d of disabled) {
        if (!names.includes(d)) {
          throw new UsageError(
            `--disable: unknown service '${d}' (known: ${names.join(", ") || "none"})`,
            path,
          );
        }
      }
      let config: NodeConfig = { services: {} };
      const configFile = ctx.values.config;
      if (typeof configFile === "string") {
        try {
          config = await loadNodeConfig(configFile, names);
        } catch (err) {
          if (err instanceof ConfigError) throw new UsageError(err.message, path);
          throw err;
        }
        for (const s of services) {
          try {
            s.checkSettings?.(config.services[s.name]?.settings ?? {});
          } catch (err) {
            if (!(err instanceof ServiceSettingsError)) throw err;
            throw new UsageError(
              `${configFile}: services.${s.name}.${err.setting} must be ${err.expected}`,
              path,
            );
          }
        }
      }
      const dataDir = ctx.values["data-dir"] as string;
      if (dataDir === "") throw new UsageError("--data-dir must not be empty", path);
      const hostname = (ctx.values.hostname as string | undefined) ?? config.hostname ?? "0.0.0.0";
      const ports: Record<string, number> = {};
      const settings: Record<string, Record<string, unknown>> = {};
      const chosen = services.filter((s) =>
        !disabled.includes(s.name) &&
        (config.services[s.name]?.enabled ?? s.enabledByDefault ?? true)
      );
      for (const s of chosen) {
        const flag = ctx.values[`${s.name}-port`];
        ports[s.name] = typeof flag === "string"
          ? portValue(flag, `--${s.name}-port`, path)
          : config.services[s.name]?.port ?? s.defaultPort;
        settings[s.name] = { ...config.services[s.name]?.settings };
        for (const f of s.flags ?? []) {
          const value = ctx.values[f.name];
          if (typeof value !== "string") continue;
          settings[s.name][f.setting] = value;
          try {
            s.checkSettings?.(settings[s.name]);
          } catch (err) {
            if (!(err instanceof ServiceSettingsError)) throw err;
            throw new UsageError(`--${f.name} must be ${err.expected}`, path);
          }
        }
      }
      if (chosen.length === 0) throw new UsageError("no service left to run", path);

      let node;
      try {
        node = await startNode({
          services: chosen,
          hostname,
          ports,
          settings,
          dataDir,
          signal: ctx.signal,
          disabled: services.filter((s) => !chosen.includes(s)).map((s) => s.name),
        });
      } catch (err) {
        if (err instanceof ServiceStartError) {
          ctx.log.error("{error}", { error: err.message });
          return 1;
        }
        throw err;
      }
      const lines = node.services.flatMap((s) =>
        s.listening.map((a) =>
          `  ${s.name.padEnd(8)} ${formatListen(a).padEnd(22)} ${s.description}`
        )
      );
      ctx.print(`bitclone node: ${node.services.length} service(s) running (Ctrl-C to stop)\n`);
      ctx.print(lines.join("\n") + (lines.length ? "\n" : ""));
      try {
        await node.closed;
      } catch (err) {
        if (err instanceof NodeError) {
          ctx.log.error("node stopped: {error}", { error: err.message });
          return 1;
        }
        throw err;
      }
      ctx.log.info("stopped cleanly");
      return 0;
    },
  };
}
