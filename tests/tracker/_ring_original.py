#!/usr/bin/env python3
"""A Python 3 stand-in for the CS457 Part 2 originals (Python 2.7), for interop tests.

Python 2 is not available, so this re-creates the wire behaviour of `assets/p2p-tracker.py` and
`assets/p2p-tracker-client.py` (rmedinahu/rmedinahu.github.io) as the spec describes it (§3.4,
§3.5): the same threads and loops, one `recv(1024)` per message, every message pickled exactly as
Python 2's `pickle.dumps(obj)` writes it at protocol 0 (py2 str as `S'...'`, unicode as `V...`,
memo `p<n>`), Python 2's loading rules (protocol <= 2; py2 str and unicode kept apart), and the
originals' flaws where they matter on the wire: the tracker's listener dies on the first bad
request (F1, printed as `LISTENER CLOSED`), the duplicate-handle reply has `None` neighbour fields
(F4), a peer's server thread stops on the first bad message (F11, printed as `SERVER STOPPED`),
the peer answers PING with `('ACK', handle)`, anything else with the raw `No data sent!`, and
asks only for the lowest missing seq. Timers are arguments so tests can shorten them.

Unlike the originals it never unpickles with a generic loader: globals are refused. For the
tests it also prints machine-readable lines on stdout:

  Tracker listening at HOST @ PORT        LISTENING PORT          (tracker / peer started)
  REGISTERED handle, RING h1 h2 ..., REMOVED handle   (tracker: ring changes)
  REGISTERED handle NEIGHBOR handle, NEW NEIGHBOR handle  (peer: its neighbour)
  COMPLETE <sentence>                     (a peer holds the whole table)
  PARITY ok <first word> / PARITY MISMATCH <hex>   (each message received: do its bytes equal
                                           what Python 2 would have written for the same value?)
"""

import argparse
import io
import pickle
import socket
import sys
import threading
import time

# ---- Python 2 pickling, protocol 0 ------------------------------------------------------------


def py2_repr(b):
    quote = '"' if (b"'" in b and b'"' not in b) else "'"
    out = [quote]
    for c in b:
        ch = chr(c)
        if ch == "\\":
            out.append("\\\\")
        elif ch == quote:
            out.append("\\" + ch)
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif c < 0x20 or c > 0x7E:
            out.append("\\x%02x" % c)
        else:
            out.append(ch)
    out.append(quote)
    return "".join(out).encode("ascii")


def raw_unicode_escape_py2(s):
    out = bytearray()
    for ch in s:
        cp = ord(ch)
        if ch == "\\":
            out += b"\\u005c"
        elif ch == "\n":
            out += b"\\u000a"
        elif cp < 0x100:
            out.append(cp)
        elif cp < 0x10000:
            out += b"\\u%04x" % cp
        else:
            out += b"\\U%08x" % cp
    return bytes(out)


def dumps(value):
    """Python 2's pickle.dumps(value): bytes are py2 str, str is unicode."""
    out = bytearray()
    memo = [0]

    def put():
        out.extend(b"p%d\n" % memo[0])
        memo[0] += 1

    def emit(v):
        if v is None:
            out.extend(b"N")
        elif v is True or v is False:
            out.extend(b"I01\n" if v else b"I00\n")
        elif isinstance(v, int):
            out.extend((b"I%d\n" if -2**31 <= v < 2**31 else b"L%dL\n") % v)
        elif isinstance(v, bytes):
            out.extend(b"S" + py2_repr(v) + b"\n")
            put()
        elif isinstance(v, str):
            out.extend(b"V" + raw_unicode_escape_py2(v) + b"\n")
            put()
        elif isinstance(v, tuple):
            if not v:
                out.extend(b"(t")
                return
            out.extend(b"(")
            for item in v:
                emit(item)
            out.extend(b"t")
            put()
        else:
            raise TypeError("cannot pickle %r" % (v,))

    emit(value)
    out.extend(b".")
    return bytes(out)


class _NoGlobals(pickle.Unpickler):
    def find_class(self, module, name):
        raise pickle.UnpicklingError("global %s.%s refused" % (module, name))


def loads(data):
    """Python 2's pickle.loads, for data: protocol <= 2, py2 str -> bytes, unicode -> str."""
    if len(data) >= 2 and data[0] == 0x80 and data[1] > 2:
        raise ValueError("unsupported pickle protocol: %d" % data[1])
    value = _NoGlobals(io.BytesIO(data), encoding="bytes").load()
    if data[:1] == b"(":
        same = dumps(value) == data if _dumpable(value) else False
        say("PARITY ok %s" % _first(value) if same else "PARITY MISMATCH %s" % data.hex())
    return value


def _dumpable(v):
    if isinstance(v, tuple):
        return all(_dumpable(x) for x in v)
    return v is None or isinstance(v, (bool, int, bytes, str))


def _first(v):
    return text(v[0]) if isinstance(v, tuple) and v else "?"


def text(v):
    """Python 2 compares an ASCII str equal to the same unicode: compare as text."""
    if isinstance(v, bytes):
        return v.decode("latin-1")
    return v


def same_handle(a, b):
    if type(a) is type(b):
        return a == b
    try:
        return text(a) == text(b) and all(ord(c) < 0x80 for c in text(a))
    except Exception:
        return False


_print_lock = threading.Lock()


def say(line):
    with _print_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


# ---- the tracker (p2p-tracker.py) ----------------------------------------------------------------


def run_tracker(args):
    db = [(4, b"peaks"), (2, b"and"), (0, b"blue"), (3, b"snowy"), (1, b"skies")]
    state = {"peers": [], "dbitem": None}
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # F2 would only slow the tests
    s.bind((args.host, args.port))
    s.listen(5)
    say("Tracker listening at %s @ %d" % (args.host, s.getsockname()[1]))

    def get_nbr_peer(peer):
        peers = state["peers"]
        return peers[(peers.index(peer) - 1) % len(peers)]

    def get_peer_by_handle(handle):
        for p in state["peers"]:
            if same_handle(p[0], handle):
                return p
        return None

    def add_peer(handle, ip, port):
        if not get_peer_by_handle(handle):
            p = (handle, ip, port)
            state["peers"].append(p)
            return p
        return None

    def update_nbrs():
        peers = state["peers"]
        n = len(peers)
        if n < 2:
            return
        for i in range(n):
            handle, ip, port = peers[i]
            nbr = peers[(i - 1) % n]
            try:
                u = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                u.settimeout(args.update_timeout)
                u.connect((text(ip), port))
                u.send(dumps((b"UPDATE_NBR", nbr[0], nbr[1], nbr[2])))
                u.close()
            except Exception:
                continue

    def prune_peers():
        peers = state["peers"]
        updated = []
        for p in list(peers):
            handle, ip, port = p
            ping = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                ping.settimeout(args.ping_timeout)
                ping.connect((text(ip), port))
                ping.send(dumps((b"PING", time.asctime().encode("ascii"))))
                ping.recv(1024)
                updated.append(p)
                ping.close()
            except Exception:
                ping.close()
                say("REMOVED %s" % text(handle))
        if len(updated) < len(peers):
            state["peers"] = updated
            say("RING " + " ".join(text(p[0]) for p in updated))
            update_nbrs()

    def updater():
        while True:
            time.sleep(args.ping_interval)
            prune_peers()

    threading.Thread(target=updater, daemon=True).start()

    while True:
        try:
            client, address = s.accept()
            data = client.recv(1024)
            data_in = loads(data)
            request = text(data_in[0])
            if request == "REGISTER":
                nbr = (None, None, None)
                new_peer = add_peer(data_in[1], address[0].encode("ascii"), data_in[2])
                if new_peer:
                    say("REGISTERED %s" % text(data_in[1]))
                    say("RING " + " ".join(text(p[0]) for p in state["peers"]))
                    nbr = get_nbr_peer(new_peer)
                    state["dbitem"] = db[state["peers"].index(new_peer) % len(db)]
                packet = (b"REG_INIT", nbr[0], nbr[1], nbr[2], len(db), state["dbitem"])
                client.send(dumps(packet))
                update_nbrs()
            elif request == "ECHO":
                handle = data_in[1]
                if isinstance(handle, bytes):
                    msg = b"Hi " + handle + b", Welcome to the network. Register to get started."
                else:
                    msg = "Hi " + handle + ", Welcome to the network. Register to get started."
                client.send(dumps((b"[Tracker]", msg)))
            else:
                client.send(dumps((b"[Tracker]", b"Bad request")))
            client.close()
        except Exception as e:  # F1: the original closes its listening socket here
            say("LISTENER CLOSED %r" % (e,))
            s.close()
            while True:
                time.sleep(3600)


# ---- the reference peer (p2p-tracker-client.py) ----------------------------------------------------


def run_peer(args):
    handle = args.handle.encode("latin-1")  # raw_input() gives a py2 str
    me = {"nbr": (), "db": {}, "db_len": 0}
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind((args.host, args.port))
    server.listen(5)
    port = server.getsockname()[1]
    say("LISTENING %d" % port)

    def server_proc():
        while True:
            try:
                requestor, address = server.accept()
                data = loads(requestor.recv(1024))
                request = text(data[0])
                if request == "UPDATE_NBR":
                    new_nbr = (data[1], data[2], data[3])
                    if new_nbr != me["nbr"]:
                        me["nbr"] = new_nbr
                        say("NEW NEIGHBOR %s" % text(new_nbr[0]))
                elif request == "PING":
                    requestor.send(dumps((b"ACK", handle)))
                elif request == "QUERY":
                    key = int(data[1])
                    try:
                        item = (key, me["db"][key])
                    except Exception:
                        item = (None, None)
                    requestor.send(dumps((b"QUERY_RESULT", item)))
                else:
                    requestor.send(b"No data sent!")
                requestor.close()
            except Exception as e:  # F11: the original's server thread ends here
                say("SERVER STOPPED %r" % (e,))
                return

    threading.Thread(target=server_proc, daemon=True).start()
    time.sleep(args.register_delay)

    c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    c.connect((args.tracker_host, args.tracker_port))
    c.send(dumps((b"REGISTER", handle, port)))
    data = loads(c.recv(1024))
    c.close()
    me["nbr"] = (data[1], data[2], data[3])
    me["db_len"] = data[4]
    me["db"][data[5][0]] = data[5][1]
    say("REGISTERED %s NEIGHBOR %s" % (text(handle), text(data[1])))

    def next_item():
        for i in range(me["db_len"]):
            if i not in me["db"]:
                return i
        return -1

    seq = next_item()
    while seq > -1:
        try:
            time.sleep(args.query_interval)
            q = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            q.connect((text(me["nbr"][1]), me["nbr"][2]))
            q.send(dumps((b"QUERY", seq)))
            data = loads(q.recv(1024))
            if text(data[0]) == "QUERY_RESULT":
                key, item = data[1][0], data[1][1]
                if key is not None and key >= 0 and key not in me["db"]:  # py2: None >= 0 is False
                    me["db"][key] = item
                    seq = next_item()
            q.close()
        except Exception:
            continue
    words = [text(me["db"][i]) for i in range(me["db_len"])]
    say("COMPLETE %s" % " ".join(words))
    while True:
        time.sleep(3600)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="role", required=True)
    t = sub.add_parser("tracker")
    t.add_argument("--host", default="127.0.0.1")
    t.add_argument("--port", type=int, default=7777)
    t.add_argument("--ping-interval", type=float, default=20)
    t.add_argument("--ping-timeout", type=float, default=5)
    t.add_argument("--update-timeout", type=float, default=2)
    c = sub.add_parser("peer")
    c.add_argument("--handle", required=True)
    c.add_argument("--host", default="127.0.0.1")
    c.add_argument("--port", type=int, default=9000)
    c.add_argument("--tracker-host", default="127.0.0.1")
    c.add_argument("--tracker-port", type=int, default=7777)
    c.add_argument("--register-delay", type=float, default=3)
    c.add_argument("--query-interval", type=float, default=2)
    args = p.parse_args()
    try:
        run_tracker(args) if args.role == "tracker" else run_peer(args)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
