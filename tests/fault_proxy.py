#!/usr/bin/env python3
"""fault_proxy.py -- a TCP proxy that cuts its connections on demand, for
tests/t_fault.sh: the ESL worker connects to it instead of to the
FreeSWITCH simulator (tests/fssim), so the test can cut the Event Socket
connection whenever it wants while the simulator's calls go on.

  fault_proxy.py --upstream HOST:PORT [--listen HOST:PORT] [--down-ms MS]

Prints "PROXY listening <port>" (flushed) once it listens (port 0: any).
SIGUSR1: every connection is cut at once, both sides (no goodbye: the
client sees its socket reset or closed, as with a network failure), and
for --down-ms (1000) every new connection is closed as soon as it is
accepted, so the client's reconnection attempts fail for that long.
SIGTERM/SIGINT: exits. Prints "PROXY cuts=N connections=M" at the end.
"""
import argparse
import asyncio
import signal
import sys
import time


class Proxy:
    def __init__(self, upstream, down_ms):
        self.up_host, self.up_port = upstream
        self.down_ms = down_ms
        self.down_until = 0.0
        self.pairs = set()
        self.cuts = 0
        self.connections = 0

    async def pipe(self, reader, writer):
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass
        finally:
            try:
                writer.close()
            except Exception:
                pass

    async def handle(self, cr, cw):
        if time.monotonic() < self.down_until:
            cw.transport.abort()
            return
        try:
            ur, uw = await asyncio.open_connection(self.up_host, self.up_port)
        except OSError:
            cw.transport.abort()
            return
        self.connections += 1
        pair = (cw, uw)
        self.pairs.add(pair)
        try:
            await asyncio.gather(self.pipe(cr, uw), self.pipe(ur, cw))
        finally:
            self.pairs.discard(pair)

    def cut(self):
        self.cuts += 1
        self.down_until = time.monotonic() + self.down_ms / 1000.0
        for cw, uw in list(self.pairs):
            cw.transport.abort()
            uw.transport.abort()
        self.pairs.clear()


def hostport(s):
    host, _, port = s.rpartition(":")
    return host, int(port)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", default="127.0.0.1:0")
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--down-ms", type=int, default=1000)
    a = ap.parse_args()
    p = Proxy(hostport(a.upstream), a.down_ms)
    host, port = hostport(a.listen)
    server = await asyncio.start_server(p.handle, host, port)
    print("PROXY listening %d" % server.sockets[0].getsockname()[1],
          flush=True)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGUSR1, p.cut)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()
    server.close()
    p.cut()
    print("PROXY cuts=%d connections=%d" % (p.cuts - 1, p.connections),
          flush=True)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
