import assert from "node:assert/strict";
import fc from "fast-check";
import { LineFramer, type LineResult, MAX_LINE_BYTES } from "../../src/bitclone/framing.ts";

const te = new TextEncoder();
const td = new TextDecoder();

/** Takes every result until needData/eof/tooLong (bounded), lines as text. */
function drain(f: LineFramer): { lines: string[]; end: LineResult } {
  const lines: string[] = [];
  for (let i = 0; i < 100_000; i++) {
    const r = f.nextLine();
    if (r.type !== "line") return { lines, end: r };
    lines.push(td.decode(r.line));
  }
  throw new Error("drain did not end");
}

/** The reference framing of spec §A.2, on a whole stream. */
function reference(bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let start = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] !== 0x0a) continue;
    let end = i;
    if (end > start && bytes[end - 1] === 0x0d) end--;
    if (end > start) out.push(bytes.slice(start, end));
    start = i + 1;
  }
  return out;
}

Deno.test("LineFramer.nextLine() returns every line when several arrive in one chunk", () => {
  const f = new LineFramer();
  f.receiveData(te.encode("version|3\r\nverack|9\r\nping|5\r\ngetaddr\r\nhalf"));
  const { lines, end } = drain(f);
  assert.deepEqual(lines, ["version|3", "verack|9", "ping|5", "getaddr"]);
  assert.equal(end.type, "needData");
  assert.equal(f.bufferedBytes, 4);
  f.receiveData(te.encode("-line\r\n"));
  assert.deepEqual(drain(f).lines, ["half-line"]);
  assert.equal(f.bufferedBytes, 0);
});

Deno.test("LineFramer.nextLine() assembles one line delivered byte by byte exactly once", () => {
  const f = new LineFramer();
  const text = "addr|1|1700000000|[2001:db8::7]:4003\r\n";
  const got: string[] = [];
  for (const b of te.encode(text)) {
    f.receiveData(Uint8Array.of(b));
    got.push(...drain(f).lines);
  }
  assert.deepEqual(got, ["addr|1|1700000000|[2001:db8::7]:4003"]);
});

Deno.test("LineFramer.nextLine() strips a CR whose LF arrives in the next chunk", () => {
  const f = new LineFramer();
  f.receiveData(te.encode("pong|1\r"));
  assert.deepEqual(drain(f).lines, []);
  f.receiveData(te.encode("\nping|2\r"));
  assert.deepEqual(drain(f).lines, ["pong|1"]);
  f.receiveData(te.encode("\n"));
  assert.deepEqual(drain(f).lines, ["ping|2"]);
});

Deno.test("LineFramer.nextLine() accepts a bare LF and strips only one CR", () => {
  const f = new LineFramer();
  f.receiveData(te.encode("ping|1\nping|2\r\r\nmid\rdle\n"));
  assert.deepEqual(drain(f).lines, ["ping|1", "ping|2\r", "mid\rdle"]);
});

Deno.test("LineFramer.nextLine() skips empty lines silently", () => {
  const f = new LineFramer();
  f.receiveData(te.encode("\r\n\n\r\ngetaddr\n\n\r\n"));
  assert.deepEqual(drain(f).lines, ["getaddr"]);
  assert.equal(f.bufferedBytes, 0);
});

Deno.test("LineFramer.receiveEof() discards the unterminated tail after the complete lines", () => {
  const f = new LineFramer();
  f.receiveData(te.encode("ping|1\r\nping|2"));
  f.receiveEof();
  f.receiveEof(); // idempotent
  const { lines, end } = drain(f);
  assert.deepEqual(lines, ["ping|1"]);
  assert.deepEqual(end, { type: "eof", discardedBytes: 6 });
  assert.deepEqual(f.nextLine(), { type: "eof", discardedBytes: 6 });
  assert.throws(() => f.receiveData(Uint8Array.of(0x61)), TypeError);
});

Deno.test("LineFramer.nextLine() accepts a line of exactly maxLineBytes with either terminator", () => {
  for (const terminator of ["\r\n", "\n"]) {
    const f = new LineFramer({ maxLineBytes: 10 });
    const line = "0123456789";
    // the CR of CR LF in its own chunk: the partial line holds limit + 1 bytes for a moment
    for (const part of [line, terminator.slice(0, 1), terminator.slice(1)]) {
      if (part) f.receiveData(te.encode(part));
    }
    assert.deepEqual(drain(f).lines, [line], JSON.stringify(terminator));
    assert.equal(f.failed, false);
  }
});

Deno.test("LineFramer.nextLine() fails with tooLong for a line one byte over the limit", () => {
  const f = new LineFramer({ maxLineBytes: 10 });
  f.receiveData(te.encode("ok\r\n01234567890\r\nlater\r\n"));
  const { lines, end } = drain(f);
  assert.deepEqual(lines, ["ok"]);
  assert.deepEqual(end, { type: "tooLong", bytes: 11 });
  assert.equal(f.failed, true);
  assert.deepEqual(f.nextLine(), end, "failure is sticky");
  f.receiveData(te.encode("more\r\n")); // dropped
  assert.equal(f.bufferedBytes, 0);
  assert.deepEqual(f.nextLine(), end);
});

Deno.test("LineFramer.nextLine() fails before the terminator arrives once the tail cannot fit", () => {
  const f = new LineFramer({ maxLineBytes: 10 });
  f.receiveData(te.encode("0123456789"));
  assert.equal(f.nextLine().type, "needData");
  f.receiveData(te.encode("\r")); // limit + 1 bytes, but a CR: still possibly a line
  assert.equal(f.nextLine().type, "needData");
  const g = new LineFramer({ maxLineBytes: 10 });
  g.receiveData(te.encode("01234567890")); // limit + 1 bytes, not a CR
  assert.equal(g.nextLine().type, "tooLong");
  const h = new LineFramer({ maxLineBytes: 10 });
  h.receiveData(te.encode("0123456789\r")); // a CR then more data: over the limit
  h.receiveData(te.encode("x"));
  assert.equal(h.nextLine().type, "tooLong");
});

Deno.test("LineFramer.nextLine() stops 2 MiB without a line feed after about 1 MiB (spec §E.6 #4)", () => {
  const f = new LineFramer();
  const chunk = new Uint8Array(65_536).fill(0x41);
  let fed = 0;
  let result: LineResult = { type: "needData" };
  while (fed < 2 * 1_048_576 && result.type === "needData") {
    f.receiveData(chunk);
    fed += chunk.length;
    result = f.nextLine();
    assert.ok(f.bufferedBytes <= MAX_LINE_BYTES + 1, `buffered ${f.bufferedBytes}`);
  }
  assert.equal(result.type, "tooLong");
  assert.ok(fed <= MAX_LINE_BYTES + chunk.length, `failed only after ${fed} bytes`);
  assert.equal(f.bufferedBytes, 0);
});

Deno.test("LineFramer.receiveData() throws RangeError when the caller never drains", () => {
  const f = new LineFramer({ maxBufferedBytes: 8 });
  f.receiveData(te.encode("a\nb\nc\n"));
  assert.throws(() => f.receiveData(te.encode("d\ne\n")), RangeError);
  assert.deepEqual(drain(f).lines, ["a", "b", "c"]);
  f.receiveData(te.encode("d\ne\n")); // fine once drained
  assert.deepEqual(drain(f).lines, ["d", "e"]);
});

Deno.test("LineFramer.receiveData() copies the chunk so that the caller may reuse its buffer", () => {
  const f = new LineFramer();
  const buf = te.encode("ping|1\n");
  f.receiveData(buf);
  buf.fill(0x7a);
  const r = f.nextLine();
  assert.ok(r.type === "line");
  assert.equal(td.decode(r.line), "ping|1");
});

Deno.test("LineFramer constructor throws RangeError on a bad limit and TypeError on bad input", () => {
  assert.throws(() => new LineFramer({ maxLineBytes: 0 }), RangeError);
  assert.throws(() => new LineFramer({ maxBufferedBytes: 1.5 }), RangeError);
  assert.throws(() => new LineFramer().receiveData("x" as unknown as Uint8Array), TypeError);
});

Deno.test("LineFramer gives the reference lines for any stream and any chunking (property)", () => {
  const alphabet = fc.constantFrom(0x0a, 0x0d, 0x7c, 0x61, 0x62, 0x00, 0xff);
  fc.assert(
    fc.property(
      fc.array(alphabet, { maxLength: 300 }),
      fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 50 }),
      fc.integer({ min: 1, max: 12 }),
      (raw, cuts, maxLineBytes) => {
        const bytes = Uint8Array.from(raw);
        const f = new LineFramer({ maxLineBytes });
        const got: Uint8Array[] = [];
        let failed = false;
        let offset = 0;
        for (let i = 0; offset < bytes.length; i++) {
          const size = cuts[i % cuts.length];
          f.receiveData(bytes.subarray(offset, offset + size));
          offset += size;
          for (let r = f.nextLine(); !failed; r = f.nextLine()) {
            if (r.type === "tooLong") failed = true;
            else if (r.type === "line") got.push(r.line.slice());
            else break;
          }
          assert.ok(f.bufferedBytes <= maxLineBytes + 1 + 40);
        }
        const expected = reference(bytes);
        const firstLong = expected.findIndex((l) => l.length > maxLineBytes);
        if (firstLong < 0) {
          // No complete line is too long; the unterminated tail may still be.
          const tailStart = bytes.lastIndexOf(0x0a) + 1;
          const tail = bytes.length - tailStart;
          const tailTooLong = tail > maxLineBytes + 1 ||
            (tail === maxLineBytes + 1 && bytes[bytes.length - 1] !== 0x0d);
          assert.equal(failed, tailTooLong);
          assert.deepEqual(got, expected);
        } else {
          assert.ok(failed);
          assert.deepEqual(got, expected.slice(0, firstLong));
        }
      },
    ),
    { numRuns: 2000 },
  );
});
