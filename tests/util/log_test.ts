import assert from "node:assert/strict";
import { serviceLogger, setupLogging } from "../../src/util/log_deno.ts";

function capture(format: "text" | "json"): string[] {
  const lines: string[] = [];
  setupLogging({ level: "debug", format, write: (l) => lines.push(l) });
  const log = serviceLogger("demo");
  log.info("listening on {transport} {addr} ({n} of {total})", {
    transport: "tcp",
    addr: "0.0.0.0:7777",
    n: 1,
    total: 2,
  });
  log.warn("failed: {error}", { error: new Error("it broke") });
  log.debug("{exchange}", { exchange: 'say "hi"' });
  return lines;
}

Deno.test("text logs render values unquoted, one line each", () => {
  const lines = capture("text");
  assert.equal(lines.length, 3);
  assert.match(lines[0], /^\S+Z INFO {2}\[demo\] listening on tcp 0\.0\.0\.0:7777 \(1 of 2\)\n$/);
  assert.match(lines[1], /^\S+Z WARN {2}\[demo\] failed: it broke\n$/);
  assert.match(lines[2], /^\S+Z DEBUG \[demo\] say "hi"\n$/);
});

Deno.test("JSON logs carry the plain message and the values as structured properties", () => {
  const lines = capture("json");
  assert.equal(lines.length, 3);
  assert.ok(lines.every((l) => l.endsWith("\n") && !l.slice(0, -1).includes("\n")));
  const [info, warn, debug] = lines.map((l) => JSON.parse(l));
  assert.equal(info.message, "listening on tcp 0.0.0.0:7777 (1 of 2)");
  assert.equal(info.level, "INFO");
  assert.equal(info.logger, "bitclone.demo");
  assert.deepEqual(info.properties, { transport: "tcp", addr: "0.0.0.0:7777", n: 1, total: 2 });
  assert.match(info["@timestamp"], /^\d{4}-\d\d-\d\dT.*Z$/);
  assert.equal(warn.message, "failed: it broke");
  assert.equal(warn.level, "WARN");
  assert.equal(warn.properties.error.message, "it broke");
  assert.equal(debug.message, 'say "hi"');
  assert.equal(debug.properties.exchange, 'say "hi"');
});
