/**
 * bitclone's command line: `bitclone <command> [args]`. Run `bitclone --help` for the commands.
 *
 * @module
 */
import { rootCommand } from "./src/cli/commands/mod.ts";
import { runCli, shutdownSignal } from "./src/cli/run.ts";
import { VERSION } from "./src/version.ts";

if (import.meta.main) {
  const { signal, dispose } = shutdownSignal();
  const code = await runCli(rootCommand(), Deno.args, {
    version: `bitclone ${VERSION} (deno ${Deno.version.deno})`,
    signal,
  });
  dispose();
  Deno.exit(code);
}
