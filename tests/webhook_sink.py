#!/usr/bin/python3
"""webhook_sink.py -- a webhook receiver for tests/t_alerts.sh.

    /usr/bin/python3 tests/webhook_sink.py DIR [--fail-first N]
                                               [--hang-first N] [--port P]

Listens on 127.0.0.1:P (default: a free port), and writes the port to
DIR/port once it listens.
Every POST is recorded, in arrival order n = 1, 2, ...:

    DIR/n.body      the body, byte for byte (for the signature check)
    DIR/n.json      {"path", "status", "headers": {name: value}}

and answered 500 for the first N requests (--fail-first), 200 after;
--hang-first N: the first N requests are recorded, then answered only 3 s
later (time for the test to kill the sender in the middle).
Standard library only; SIGTERM ends it.
"""
import argparse
import http.server
import json
import os
import sys
import time


class Sink(http.server.BaseHTTPRequestHandler):
    seen = 0
    fail_first = 0
    hang_first = 0
    folder = "."

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        Sink.seen += 1
        status = 500 if Sink.seen <= Sink.fail_first else 200
        base = os.path.join(Sink.folder, str(Sink.seen))
        with open(base + ".body", "wb") as f:
            f.write(body)
        meta = {"path": self.path, "status": status,
                "headers": {k: v for k, v in self.headers.items()}}
        with open(base + ".json.tmp", "w") as f:
            json.dump(meta, f)
        os.rename(base + ".json.tmp", base + ".json")   # complete or absent
        if Sink.seen <= Sink.hang_first:
            time.sleep(3)
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, fmt, *args):
        pass

    def handle(self):
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError):
            pass                        # the sender was killed meanwhile


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--fail-first", type=int, default=0)
    ap.add_argument("--hang-first", type=int, default=0)
    ap.add_argument("--port", type=int, default=0)
    a = ap.parse_args()
    Sink.folder = a.dir
    Sink.fail_first = a.fail_first
    Sink.hang_first = a.hang_first
    os.makedirs(a.dir, exist_ok=True)
    srv = http.server.HTTPServer(("127.0.0.1", a.port), Sink)
    with open(os.path.join(a.dir, "port.tmp"), "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(os.path.join(a.dir, "port.tmp"), os.path.join(a.dir, "port"))
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
