"""The one bounded download: every transfer the app makes (MNIST, CIFAR-10, ImageNet weights) goes through `fetch`.

Bounded three ways (seconds to connect, seconds without a byte, a total deadline), written to a temp file
beside the target and checked before it is moved into place, so a failure or a kill leaves nothing behind
(temp files of a killed download are swept at the next start). One download lock per data folder keeps two
sessions, or two servers, from downloading the same files at once.
"""
from __future__ import annotations

import http.client
import shutil
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from core.atomic import TMP_PREFIX
from core.locks import hold

OFFLINE_ENV = "PTCE_OFFLINE"  # set to 1 to never try a download
OnDownload = Callable[[float, str], None]  # (fraction 0..1, message): a download's progress


@dataclass(frozen=True)
class DownloadLimits:
    """Every download is bounded: connecting, each wait for bytes, and the whole download."""

    connect_s: float = 10.0
    read_s: float = 30.0
    total_s: float = 300.0  # all four files (~11 MB); a read in progress may add up to read_s


@contextmanager
def _download_lock(data_dir: Path, blocking: bool) -> Iterator[bool]:
    """The data folder's download lock (threads and processes); yields whether it was taken."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with hold(data_dir / ".download.lock", blocking) as held:
        yield held


def _sweep(data_dir: Path) -> int:
    """Remove temp folders of downloads that died (the caller holds the download lock)."""
    stale = list(data_dir.glob(TMP_PREFIX + "*")) if data_dir.is_dir() else []
    for p in stale:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
    return len(stale)


def sweep_data(data_dir: Path) -> int:
    """At start: remove data/.tmp-* left by a killed download, unless a download is running now."""
    with _download_lock(data_dir, blocking=False) as held:
        return _sweep(data_dir) if held else 0


def _bounded_connection(base: type, read_s: float) -> Callable:
    """An http.client connection class whose socket waits at most `read_s` for bytes once connected
    (the connect itself is bounded by the request's timeout)."""
    def make(host, **kw):
        conn = base(host, **kw)
        connect = conn.connect

        def bounded_connect() -> None:
            connect()
            conn.sock.settimeout(read_s)

        conn.connect = bounded_connect
        return conn
    return make


class _HTTP(urllib.request.HTTPHandler):
    def __init__(self, read_s: float) -> None:
        super().__init__()
        self.read_s = read_s

    def http_open(self, req):
        return self.do_open(_bounded_connection(http.client.HTTPConnection, self.read_s), req)


class _HTTPS(urllib.request.HTTPSHandler):
    def __init__(self, read_s: float) -> None:
        super().__init__()
        self.read_s = read_s

    def https_open(self, req):
        return self.do_open(_bounded_connection(http.client.HTTPSConnection, self.read_s), req,
                            context=self._context)


def fetch(url: str, dest: Path, limits: DownloadLimits, deadline: float) -> None:
    """Download `url` to `dest` within the limits; `deadline` is a time.monotonic() value for the whole job."""
    opener = urllib.request.build_opener(_HTTP(limits.read_s), _HTTPS(limits.read_s))
    request = urllib.request.Request(url, headers={"User-Agent": "pytorch/vision"})
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError(f"the download took longer than {limits.total_s:g} s")
    with opener.open(request, timeout=min(limits.connect_s, remaining)) as resp, open(dest, "wb") as f:
        while chunk := resp.read1(1 << 16):  # whatever has arrived: a trickle cannot outlast the deadline
            f.write(chunk)
            if time.monotonic() > deadline:
                raise TimeoutError(f"the download took longer than {limits.total_s:g} s")
