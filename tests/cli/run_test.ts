import assert from "node:assert/strict";
import { runCli } from "../../src/cli/run.ts";
import type { CommandSpec } from "../../src/cli/command.ts";
import { hostPortValue, intValue, normalizeGoFlags } from "../../src/cli/args.ts";
import { UsageError } from "../../src/cli/command.ts";

function tree(
  seen: { values?: Record<string, unknown>; positionals?: string[] } = {},
): CommandSpec {
  return {
    name: "bitclone",
    summary: "test tree",
    subcommands: [
      {
        name: "lsp",
        summary: "LSP tools",
        subcommands: [{
          name: "server",
          summary: "Echo server",
          options: {
            port: { type: "string", description: "port", default: "9999" },
            v: { type: "boolean", description: "verbose" },
            rdrop: { type: "string", description: "read drop %", default: "0" },
          },
          run(ctx) {
            seen.values = ctx.values;
            seen.positionals = ctx.positionals;
            return 0;
          },
        }],
      },
      {
        name: "fetch",
        summary: "Fetch",
        positionals: [{ name: "HOST:PORT", description: "where", optional: false }],
        run: () => 3,
      },
      {
        name: "boom",
        summary: "Fails",
        run: () => {
          throw new Error("it broke");
        },
      },
    ],
  };
}

async function run(args: string[], spec = tree()) {
  const out: string[] = [], err: string[] = [];
  const code = await runCli(spec, args, {
    version: "bitclone 9.9.9",
    print: (t) => out.push(t),
    printError: (t) => err.push(t),
  });
  return { code, out: out.join(""), err: err.join("") };
}

Deno.test("runCli() prints help and exits 0 for --help at every level", async () => {
  for (
    const args of [["--help"], ["-h"], ["lsp", "--help"], ["lsp", "server", "--help"], [
      "lsp",
      "server",
      "-help",
    ]]
  ) {
    const r = await run(args);
    assert.equal(r.code, 0, args.join(" "));
    assert.match(r.out, /Usage: bitclone/);
    assert.equal(r.err, "");
  }
  const r = await run(["lsp", "server", "--help"]);
  assert.match(r.out, /--port VALUE/);
  assert.match(r.out, /Go-style/);
});

Deno.test("runCli() prints the version for --version at every level", async () => {
  for (const args of [["--version"], ["-V"], ["lsp", "--version"], ["fetch", "--version"]]) {
    const r = await run(args);
    assert.equal(r.code, 0);
    assert.equal(r.out, "bitclone 9.9.9\n");
  }
});

Deno.test("runCli() answers an unknown command with one line and exit 2", async () => {
  const r = await run(["nosuch"]);
  assert.equal(r.code, 2);
  assert.equal(r.out, "");
  assert.equal(r.err, "bitclone: unknown command 'nosuch' (see 'bitclone --help')\n");
  const sub = await run(["lsp", "nosuch"]);
  assert.equal(sub.err, "bitclone lsp: unknown command 'nosuch' (see 'bitclone lsp --help')\n");
});

Deno.test("runCli() answers unknown options, missing arguments and bad values with exit 2", async () => {
  const cases: [string[], RegExp][] = [
    [["lsp", "server", "--nope"], /^bitclone lsp server: unknown option '--nope'/],
    [["lsp", "server", "--port"], /^bitclone lsp server: option '--port' needs a value/],
    [["fetch"], /^bitclone fetch: missing HOST:PORT/],
    [["fetch", "a:1", "b:2"], /^bitclone fetch: unexpected argument 'b:2'/],
    [["lsp", "server", "--log-level", "loud"], /--log-level must be one of/],
    [["lsp", "server", "--log-format", "xml"], /--log-format must be one of/],
    [[], /^bitclone: missing command/],
  ];
  for (const [args, re] of cases) {
    const r = await run(args);
    assert.equal(r.code, 2, args.join(" "));
    assert.match(r.err, re);
    assert.equal(r.err.trimEnd().split("\n").length, 1, "one line");
    assert.match(r.err, /see '.*--help'/);
  }
});

Deno.test("runCli() accepts Go-style single-dash long flags and the double-dash form", async () => {
  const seen: { values?: Record<string, unknown> } = {};
  const spec = tree(seen);
  assert.equal((await run(["lsp", "server", "-port", "1234", "-v", "-rdrop=20"], spec)).code, 0);
  assert.equal(seen.values?.port, "1234");
  assert.equal(seen.values?.v, true);
  assert.equal(seen.values?.rdrop, "20");
  assert.equal((await run(["lsp", "server", "--port=77"], spec)).code, 0);
  assert.equal(seen.values?.port, "77");
  assert.equal((await run(["lsp", "server"], spec)).code, 0);
  assert.equal(seen.values?.port, "9999", "default");
});

Deno.test("runCli() takes global options before the command word", async () => {
  const seen: { values?: Record<string, unknown> } = {};
  assert.equal((await run(["--log-level", "error", "lsp", "server"], tree(seen))).code, 0);
  assert.equal(seen.values?.["log-level"], "error");
});

Deno.test("runCli() returns the command's exit code, and 1 when it throws", async () => {
  assert.equal((await run(["fetch", "h:1"])).code, 3);
  assert.equal((await run(["boom", "--log-level", "error", "--log-format", "json"])).code, 1);
});

Deno.test("normalizeGoFlags() leaves short options and everything after -- alone", () => {
  assert.deepEqual(
    normalizeGoFlags(["-v", "-port=1", "--", "-port"], new Set(["port", "v"])),
    ["--v", "--port=1", "--", "-port"],
  );
  assert.deepEqual(normalizeGoFlags(["-x", "-port"], new Set(["port"])), ["-x", "--port"]);
});

Deno.test("intValue() and hostPortValue() reject bad text with a UsageError", () => {
  assert.equal(intValue("42", "N", "p"), 42);
  for (const bad of ["", "4x", "1e3", "-1", "99999999999999999999"]) {
    assert.throws(() => intValue(bad, "N", "p", { min: 0, max: 100 }), UsageError, bad);
  }
  assert.deepEqual(hostPortValue("127.0.0.1:80", "A", "p"), { hostname: "127.0.0.1", port: 80 });
  assert.deepEqual(hostPortValue("[::1]:9", "A", "p"), { hostname: "::1", port: 9 });
  assert.deepEqual(hostPortValue("fe80::1:9", "A", "p"), { hostname: "fe80::1", port: 9 });
  for (const bad of ["nohost", ":80", "h:0", "h:70000", "h:x"]) {
    assert.throws(() => hostPortValue(bad, "A", "p"), UsageError, bad);
  }
});
