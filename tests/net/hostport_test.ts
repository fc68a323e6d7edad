import assert from "node:assert/strict";
import { checkHostPort, parseHostPort } from "../../src/net/hostport.ts";

Deno.test("checkHostPort() tells a bad form from a port out of range", () => {
  assert.deepEqual(checkHostPort("localhost:99999"), { problem: "port", port: "99999" });
  assert.deepEqual(checkHostPort("[::1]:70000"), { problem: "port", port: "70000" });
  assert.deepEqual(checkHostPort("fe80::1:1234567"), { problem: "port", port: "1234567" });
  for (const text of ["localhost", ":80", "h:", "h:x", "[zz]:80", "a/b:80", "x".repeat(301)]) {
    assert.deepEqual(checkHostPort(text), { problem: "form" }, text);
  }
  assert.deepEqual(checkHostPort("10.0.0.1:65535"), { hostname: "10.0.0.1", port: 65535 });
  assert.deepEqual(checkHostPort("[::1]:0"), { hostname: "::1", port: 0 });
});

Deno.test("parseHostPort() still answers undefined for either problem", () => {
  assert.equal(parseHostPort("localhost:99999"), undefined);
  assert.equal(parseHostPort("localhost"), undefined);
  assert.deepEqual(parseHostPort("lab1:80"), { hostname: "lab1", port: 80 });
});
