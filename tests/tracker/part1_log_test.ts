import assert from "node:assert/strict";
import { describeExchange } from "../../src/tracker/part1/server_deno.ts";

Deno.test("describeExchange() names the request, the reply and an undelivered reply", () => {
  const base = { remote: "127.0.0.1:5", written: true, ms: 1 } as const;
  assert.equal(
    describeExchange({ ...base, request: { type: "size" }, reply: { type: "size", count: 16 } }),
    "127.0.0.1:5: REGISTER -> size",
  );
  const item = describeExchange(
    {
      ...base,
      written: false,
      protocol: 2,
      request: { type: "item", index: 3 },
      reply: { type: "error" },
    } as Parameters<typeof describeExchange>[0],
  );
  assert.equal(item, "127.0.0.1:5: item 3 (protocol 2) -> error (not delivered)");
});
