import assert from "node:assert/strict";
import { runCli } from "../../src/cli/run.ts";
import type { CommandSpec } from "../../src/cli/command.ts";
import {
  hostPortValue,
  intValue,
  negativeNumbersAsValues,
  normalizeGoFlags,
  portValue,
} from "../../src/cli/args.ts";
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
        name: "sum",
        summary: "Adds numbers",
        options: { port: { type: "string", description: "port", default: "1" } },
        positionals: [
          { name: "A", description: "a number" },
          { name: "B", description: "a number", optional: true },
        ],
        run(ctx) {
          seen.values = ctx.values;
          seen.positionals = ctx.positionals;
          portValue(ctx.values.port as string, "--port", "bitclone sum");
          for (const p of ctx.positionals) intValue(p, "A", "bitclone sum", { max: 9 });
          return 0;
        },
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
  const out: string[] = [], err: string[] = [], logs: string[] = [];
  const code = await runCli(spec, args, {
    version: "bitclone 9.9.9",
    print: (t) => out.push(t),
    printError: (t) => err.push(t),
    writeLog: (line) => logs.push(line),
  });
  return { code, out: out.join(""), err: err.join(""), logs };
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
  const boom = await run(["boom", "--log-level", "error", "--log-format", "json"]);
  assert.equal(boom.code, 1);
  assert.equal(boom.err, "", "a runtime failure is logged, not a usage line");
  assert.equal(boom.logs.length, 1);
  const line = JSON.parse(boom.logs[0]);
  assert.equal(line.level, "ERROR");
  assert.equal(line.logger, "bitclone.boom");
  assert.equal(line.message, "it broke");
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

Deno.test("runCli() takes a negative number after an option as its value: a range error, exit 2", async () => {
  for (
    const args of [["sum", "1", "-port", "-1"], ["sum", "--port", "-1", "1"], [
      "sum",
      "-port=-1",
      "1",
    ]]
  ) {
    const r = await run(args);
    assert.equal(r.code, 2, args.join(" "));
    assert.equal(
      r.err,
      "bitclone sum: --port: -1 is out of range 0..65535 (see 'bitclone sum --help')\n",
    );
  }
  const seen: { values?: Record<string, unknown> } = {};
  assert.equal((await run(["lsp", "server", "-port", "-7", "-rdrop", "-2.5"], tree(seen))).code, 0);
  assert.equal(seen.values?.port, "-7");
  assert.equal(seen.values?.rdrop, "-2.5");
  // A value that looks like an option is still refused, with the flag named.
  const r = await run(["lsp", "server", "--port", "-x"]);
  assert.equal(r.code, 2);
  assert.match(r.err, /^bitclone lsp server: option '--port' needs a value/);
});

Deno.test("runCli() takes a negative number elsewhere as a positional argument, in order", async () => {
  const seen: { positionals?: string[] } = {};
  assert.equal((await run(["sum", "--port", "5", "3", "-0"], tree(seen))).code, 0);
  assert.deepEqual(seen.positionals, ["3", "-0"]);
  const r = await run(["sum", "-5", "2"], tree(seen));
  assert.deepEqual(seen.positionals, ["-5", "2"]);
  assert.equal(r.code, 2);
  assert.equal(r.err, "bitclone sum: A: -5 is out of range 0..9 (see 'bitclone sum --help')\n");
  assert.equal((await run(["sum", "1", "--", "-3"], tree(seen))).code, 2);
  assert.deepEqual(seen.positionals, ["1", "-3"]);
  // Still one line and exit 2 for too many of them.
  const extra = await run(["sum", "-1", "-2", "-3"]);
  assert.equal(extra.code, 2);
  assert.match(extra.err, /^bitclone sum: unexpected argument '-3'/);
});

Deno.test("negativeNumbersAsValues() joins option values and moves positionals behind --", () => {
  const opts = { port: { type: "string" as const, short: "p" }, v: { type: "boolean" as const } };
  assert.deepEqual(negativeNumbersAsValues(["--port", "-1", "a"], opts), ["--port=-1", "a"]);
  assert.deepEqual(negativeNumbersAsValues(["-p", "-1"], opts), ["-p=-1"]);
  assert.deepEqual(
    negativeNumbersAsValues(["a", "-5", "--v", "b", "--", "-c"], opts),
    ["--v", "--", "a", "-5", "b", "-c"],
  );
  assert.deepEqual(negativeNumbersAsValues(["a", "--v"], opts), ["a", "--v"], "untouched");
  assert.deepEqual(negativeNumbersAsValues(["--v", "-1"], opts), ["--v", "--", "-1"]);
});

Deno.test("intValue() tells text that is not a number from a number out of range", () => {
  assert.throws(() => intValue("x1", "--port", "p", { max: 9 }), {
    message: "--port must be a whole number from 0 to 9, not 'x1'",
  });
  assert.throws(() => intValue("-1", "--port", "p", { max: 9 }), {
    message: "--port: -1 is out of range 0..9",
  });
  assert.throws(() => portValue("65536", "--port", "p"), {
    message: "--port: 65536 is out of range 0..65535",
  });
});

Deno.test("hostPortValue() tells a bad HOST:PORT form from a port out of range", () => {
  for (
    const [text, port] of [["localhost:99999", "99999"], ["[::1]:123456", "123456"], ["h:0", "0"]]
  ) {
    assert.throws(() => hostPortValue(text, "HOST:PORT", "p"), {
      message: `HOST:PORT: port ${port} in '${text}' is out of range 1..65535`,
    });
  }
  for (const text of ["localhost", "localhost:", "a b:80", "h:-1", "h:x"]) {
    assert.throws(() => hostPortValue(text, "HOST:PORT", "p"), {
      message: `HOST:PORT must look like HOST:PORT, not '${text}'`,
    });
  }
});
