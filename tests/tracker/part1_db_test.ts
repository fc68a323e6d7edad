/**
 * The Part 1 database (spec §2.1): validation, Python list indexing, the message, the db file
 * format (parse errors name the line), and the built-in default database.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { checkWord, MAX_DB_ENTRIES, Part1Db, type Part1Entry } from "../../src/tracker/part1/db.ts";
import { formatDbFile, parseDbFile } from "../../src/tracker/part1/db_file.ts";
import { DEFAULT_DB, DEFAULT_DB_TEXT } from "../../src/tracker/part1/default_db.ts";

/** The original's list (spec vectors give positions 0, 4, 5), for indexing tests only. */
const ORIGINAL_ORDER: Part1Entry[] = [12, 3, 9, 6, 2, 5, 11, 8, 1, 7, 14, 15, 10, 0, 4, 13].map(
  (seq) => ({ seq, word: `w${seq}` }),
);

Deno.test("Part1Db.at() indexes like a Python list: negative from the end, bools as 0/1", () => {
  const db = new Part1Db(ORIGINAL_ORDER);
  assert.equal(db.size, 16);
  assert.equal(db.at(0)?.seq, 12);
  assert.equal(db.at(15)?.seq, 13);
  assert.equal(db.at(-1)?.seq, 13);
  assert.equal(db.at(-16)?.seq, 12);
  assert.equal(db.at(true)?.seq, 3);
  assert.equal(db.at(false)?.seq, 12);
  assert.equal(db.at(5n)?.seq, 5);
  assert.equal(db.at(-1n)?.seq, 13);
  for (const out of [16, -17, 1000, 2 ** 53, 2n ** 64n, -(2n ** 64n), 0.5]) {
    assert.equal(db.at(out as number), undefined, String(out));
  }
});

Deno.test("Part1Db.message sorts the words by SEQNUM, not by position", () => {
  const db = new Part1Db([
    { seq: 2, word: "c" },
    { seq: 0, word: "a" },
    { seq: 1, word: "b" },
  ]);
  assert.equal(db.message, "a b c");
});

Deno.test("Part1Db refuses SEQNUMs that are not 0..n-1 each once", () => {
  assert.throws(() => new Part1Db([]), /no entries/);
  assert.throws(() => new Part1Db([{ seq: 1, word: "a" }]), /SEQNUM 1, not 0\.\.0/);
  assert.throws(
    () => new Part1Db([{ seq: 0, word: "a" }, { seq: 0, word: "b" }]),
    /entries 0 and 1 both have SEQNUM 0/,
  );
  assert.throws(() => new Part1Db([{ seq: -1, word: "a" }]), RangeError);
  assert.throws(() => new Part1Db([{ seq: 0.5, word: "a" }]), RangeError);
  assert.throws(() => new Part1Db([{ seq: 0 } as never]), TypeError);
  const tooMany = Array.from({ length: MAX_DB_ENTRIES + 1 }, (_, i) => ({ seq: i, word: "w" }));
  assert.throws(() => new Part1Db(tooMany), /more than 4096/);
});

Deno.test("Part1Db refuses words with control characters, padding or replies over 1024 bytes", () => {
  for (const word of ["", "a\tb", "a\nb", "\u0000", "x\u007f", " a", "a ", "\ud800"]) {
    assert.throws(() => new Part1Db([{ seq: 0, word }]), RangeError, JSON.stringify(word));
  }
  assert.equal(checkWord("two words"), undefined);
  assert.equal(checkWord("x".repeat(256)), undefined);
  assert.match(checkWord("x".repeat(257))!, /longer than 256/);
  // 200 characters that each take 6 bytes (\uXXXX) in a protocol-0 UNICODE line: 1200 bytes.
  assert.throws(() => new Part1Db([{ seq: 0, word: "\u4e2d".repeat(200) }]), /more than 1024/);
  assert.equal(new Part1Db([{ seq: 0, word: "\u4e2d".repeat(150) }]).size, 1);
});

Deno.test("Part1Db.itemReply() caches the exact bytes and refuses out-of-range positions", () => {
  const db = new Part1Db(ORIGINAL_ORDER);
  const r = db.itemReply(0);
  assert.equal(new TextDecoder().decode(r), "(I12\nS'w12'\np0\ntp1\n.");
  assert.equal(db.itemReply(0), r);
  assert.equal(db.itemReply(-16), r);
  assert.throws(() => db.itemReply(16), RangeError);
});

Deno.test("parseDbFile() reads entries in list order, skipping comments and blank lines", () => {
  const db = parseDbFile(
    "\ufeff# head\n\n  3 fox\r\n0 The\n\t# indented comment\n2 brown\n1   quick  \n",
  );
  assert.deepEqual(db.entries.map((e) => [e.seq, e.word]), [
    [3, "fox"],
    [0, "The"],
    [2, "brown"],
    [1, "quick"],
  ]);
  assert.equal(db.message, "The quick brown fox");
  const spaced = parseDbFile("0 New York\n1 City");
  assert.equal(spaced.message, "New York City");
});

Deno.test("parseDbFile() names the line of every mistake", () => {
  const cases: [string, RegExp][] = [
    ["0 a\nxyz\n", /line 2: expected '<SEQNUM> <WORD>'/],
    ["0 a\n-1 b\n", /line 2: expected/],
    ["0 a\n1\n", /line 2: expected/],
    ["0 a\n1 b\tc\n", /line 2: the word holds a control character/],
    ["0 a\n5 b\n", /line 2: SEQNUM 5 is out of range 0\.\.1/],
    ["# c\n0 a\n0 b\n", /line 3: SEQNUM 0 repeats line 2/],
    ["0 a\n1 " + "\u4e2d".repeat(200) + "\n", /line 2: .*more than 1024/],
    ["99999999999 a\n", /line 1: SEQNUM 99999999999 is too large/],
    ["# nothing\n\n", /no entries/],
  ];
  for (const [text, re] of cases) {
    assert.throws(() => parseDbFile(text, "db.txt"), (err: Error) => {
      assert.ok(err instanceof SyntaxError, `${JSON.stringify(text)}: ${err}`);
      assert.match(err.message, /^Cannot parse db\.txt: /);
      assert.match(err.message, re);
      return true;
    });
  }
});

Deno.test("parseDbFile() refuses invalid UTF-8 and files over 1 MiB", () => {
  assert.throws(() => parseDbFile(Uint8Array.of(0x30, 0x20, 0xff)), /not valid UTF-8/);
  assert.throws(() => parseDbFile(new Uint8Array((1 << 20) + 1).fill(0x20)), /more than/);
  assert.equal(parseDbFile(new TextEncoder().encode("0 caf\u00e9\n")).at(0)?.word, "caf\u00e9");
});

Deno.test("formatDbFile() and parseDbFile() round-trip any valid database", () => {
  const word = fc.string({ minLength: 1, maxLength: 20 }).filter((w) =>
    checkWord(w) === undefined && !w.startsWith("#")
  );
  fc.assert(
    fc.property(fc.array(word, { minLength: 1, maxLength: 30 }), fc.integer(), (words, seed) => {
      const order = words.map((_, i) => i);
      let x = seed >>> 0;
      for (let i = order.length - 1; i > 0; i--) {
        x = (Math.imul(x, 1103515245) + 12345) >>> 0;
        const j = x % (i + 1);
        [order[i], order[j]] = [order[j], order[i]];
      }
      const db = new Part1Db(order.map((seq) => ({ seq, word: words[seq] })));
      const again = parseDbFile(formatDbFile(db, "a\nb"));
      assert.deepEqual(again.entries, db.entries);
      assert.equal(again.message, words.join(" "));
    }),
  );
});

Deno.test("DEFAULT_DB holds 16 shuffled entries of our own sentence, not the original's", () => {
  assert.equal(DEFAULT_DB.size, 16);
  assert.deepEqual(DEFAULT_DB.entries.map((e) => e.seq).sort((a, b) => a - b), [
    ...Array(16).keys(),
  ]);
  assert.notDeepEqual(DEFAULT_DB.entries.map((e) => e.seq), [...Array(16).keys()], "not shuffled");
  assert.equal(
    DEFAULT_DB.message,
    "A tracker that survives every byte you send it still answers in pickle for old friends.",
  );
  // None of the original's words at the positions the spec's vectors reveal.
  assert.notEqual(DEFAULT_DB.at(0)?.word, "of");
  assert.notEqual(DEFAULT_DB.at(4)?.word, "the");
  assert.equal(parseDbFile(DEFAULT_DB_TEXT).message, DEFAULT_DB.message);
  assert.ok(DEFAULT_DB.entries.every((e) => /^[\x21-\x7e]+$/.test(e.word)), "ASCII words");
});
