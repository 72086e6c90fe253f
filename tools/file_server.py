"""Local HTTP servers that stand in for the download hosts (loopback only; every file is made by the caller).

`file_server` serves a dict of files, optionally a byte at a time (a trickle) or stopping half way through a file
until released (a stall); it counts the requests per path. `stalled_server` accepts connections and never answers;
`refused_url` names a port where nothing listens. Tests and the bench share them.
"""
from __future__ import annotations

import http.server
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Served:
    """What a running `file_server` saw and how to steer it."""

    url: str  # "http://127.0.0.1:<port>/"
    requests: Counter = field(default_factory=Counter)  # path (no leading slash) -> GETs received
    half_sent: threading.Event = field(default_factory=threading.Event)  # a stalling file reached its middle
    release: threading.Event = field(default_factory=threading.Event)  # set: stalled responses are closed


@contextmanager
def file_server(files: dict[str, bytes], trickle_s: float = 0.0, stall: frozenset[str] | set[str] = frozenset(),
                ) -> Iterator[Served]:
    """A local HTTP mirror serving `files` by path; a missing path is a 404. With `trickle_s`, one byte every
    trickle_s seconds; paths in `stall` send their first half, set `half_sent`, then wait (no more bytes) until
    `release` is set or the server stops."""
    served: Served

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            path = self.path.lstrip("/")
            served.requests[path] += 1
            blob = files.get(path)
            if blob is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(blob)))
            self.end_headers()
            try:
                if path in stall:
                    self.wfile.write(blob[: len(blob) // 2])
                    self.wfile.flush()
                    served.half_sent.set()
                    served.release.wait()
                elif trickle_s:
                    for i in range(len(blob)):
                        self.wfile.write(blob[i:i + 1])
                        self.wfile.flush()
                        time.sleep(trickle_s)
                else:
                    self.wfile.write(blob)
            except OSError:
                pass

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    served = Served(f"http://127.0.0.1:{server.server_address[1]}/")
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield served
    finally:
        served.release.set()
        server.shutdown()
        server.server_close()


@contextmanager
def stalled_server() -> Iterator[str]:
    """Accepts connections and never answers (a mirror that hangs before its first byte)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    finally:
        stop.set()
        t.join()
        for c in held:
            c.close()
        sock.close()


def refused_url() -> str:
    """A loopback URL whose port was free a moment ago: connecting is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"
