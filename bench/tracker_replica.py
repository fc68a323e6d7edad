#!/usr/bin/env python3
"""A Python 3 replica of the CS457 Part 1 tracker (the original `tracker-p1.py`, Python 2.7),
for bitclone's benchmark (bench/tracker_bench.ts) and interoperability tests: it stands in for
the original, which needs Python 2.

Wire behaviour, as spec tracker.md section 2 describes the original:
  * one TCP connection per request; a single recv(1024); the reply is sent, then the socket closed;
  * the whole first read equal to b"REGISTER" -> pickle of the size, b"I16\\n.";
  * otherwise the read is unpickled *as Python 2 would*: protocols 0 to 2 only (a PROTO above 2 or
    any opcode of protocol 3+ fails), bytes after STOP ignored; the value indexes the list
    (negative from the end, True/False as 1/0) and the entry is pickled at protocol 0 exactly as
    Python 2 writes it: b"(I12\\nS'of'\\np0\\ntp1\\n.";
  * anything that fails -> b"S'Bad request'\\np0\\n.";
  * single-threaded accept loop, listen backlog 5, no SO_REUSEADDR (defect F2 kept).

Deliberate deviations, so that a test or benchmark cannot wedge or exploit it:
  * F1 is not reproduced: an error on one connection closes that connection, not the listener;
  * F3 is not reproduced: GLOBAL and the other calling opcodes are refused (the original runs them).

The database is bitclone's default (src/tracker/default_db.ts), or --db FILE in bitclone's db file
format ("<SEQNUM> <WORD>" lines in list order, '#' comments). On start it prints one line,
"listening on HOST:PORT", and flushes it.

Usage: python3 bench/tracker_replica.py [--host 127.0.0.1] [--port 7777] [--db FILE]
                                        [--backlog 5] [--verbose]
"""

import argparse
import io
import pickle
import pickletools
import re
import socket
import sys

# bitclone's default database, in list order (same as src/tracker/default_db.ts).
DEFAULT_DB = [
    (9, "still"), (4, "every"), (13, "for"), (0, "A"), (7, "send"), (15, "friends."),
    (2, "that"), (11, "in"), (5, "byte"), (14, "old"), (1, "tracker"), (8, "it"),
    (12, "pickle"), (3, "survives"), (10, "answers"), (6, "you"),
]

ERROR_REPLY = b"S'Bad request'\np0\n."


def load_db(path):
    """Reads a db file in bitclone's format; exits with a message on any error."""
    entries = []
    with open(path, encoding="utf-8-sig") as f:
        for number, line in enumerate(f, 1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            m = re.match(r"^(\d+)[ \t]+(.*)$", text)
            if not m:
                sys.exit(f"{path}:{number}: expected '<SEQNUM> <WORD>'")
            entries.append((int(m.group(1)), m.group(2).strip()))
    if sorted(seq for seq, _ in entries) != list(range(len(entries))) or not entries:
        sys.exit(f"{path}: the SEQNUMs must be 0..n-1, each once")
    return entries


def py2_repr(raw):
    """Python 2's repr() of a byte string (what pickle protocol 0 writes after S)."""
    quote = '"' if b"'" in raw and b'"' not in raw else "'"
    out = [quote]
    for b in raw:
        c = chr(b)
        if c == "\\" or c == quote:
            out.append("\\" + c)
        elif c == "\t":
            out.append("\\t")
        elif c == "\n":
            out.append("\\n")
        elif c == "\r":
            out.append("\\r")
        elif b < 0x20 or b > 0x7E:
            out.append("\\x%02x" % b)
        else:
            out.append(c)
    out.append(quote)
    return "".join(out)


def dumps_py2_entry(entry):
    """pickle.dumps((seq, word)) of Python 2: the word is a byte string (UTF-8 bytes)."""
    seq, word = entry
    body = "(I%d\nS%s\np0\ntp1\n." % (seq, py2_repr(word.encode("utf-8")))
    return body.encode("ascii")


class Py2Unpickler(pickle.Unpickler):
    """Refuses everything that imports or calls (the original would run it: defect F3)."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError("globals refused")

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("persistent ids refused")


def loads_py2(data):
    """pickle.loads as Python 2.7 would: protocols 0-2 only, bytes after STOP ignored."""
    for opcode, arg, _pos in pickletools.genops(data):
        if opcode.proto > 2 or (opcode.name == "PROTO" and arg > 2):
            raise pickle.UnpicklingError("unsupported pickle protocol")
    return Py2Unpickler(io.BytesIO(data)).load()


def main():
    parser = argparse.ArgumentParser(description="Python 3 replica of the CS457 Part 1 tracker")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7777)
    parser.add_argument("--db", help="db file in bitclone's format (default: bitclone's db)")
    parser.add_argument("--backlog", type=int, default=5, help="listen backlog (original: 5)")
    parser.add_argument("--verbose", action="store_true", help="print 'Message from' lines")
    args = parser.parse_args()

    db = load_db(args.db) if args.db else DEFAULT_DB
    size_reply = ("I%d\n." % len(db)).encode("ascii")
    replies = [dumps_py2_entry(e) for e in db]

    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # no SO_REUSEADDR, like the original
    s.bind((args.host, args.port))
    s.listen(args.backlog)
    print("listening on %s:%d" % (args.host, s.getsockname()[1]), flush=True)

    try:
        while True:
            client, address = s.accept()
            try:
                if args.verbose:
                    print("Message from", address, flush=True)
                data = client.recv(1024)
                if data == b"REGISTER":
                    client.send(size_reply)
                else:
                    try:
                        index = loads_py2(data)
                        # db[index] as the original: list indexing on the loaded value
                        # (replies[i] is the pickle of db[i]).
                        reply = replies[index]
                    except Exception:
                        reply = ERROR_REPLY
                    client.send(reply)
            except OSError:
                pass  # deviation: the original closes its listener here (F1)
            finally:
                client.close()
    except KeyboardInterrupt:
        pass
    finally:
        s.close()


if __name__ == "__main__":
    main()
