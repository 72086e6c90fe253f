"""The one bounded download: every transfer the app makes (MNIST, CIFAR-10, ImageNet weights) goes through `fetch`.

Bounded three ways (seconds to connect, name lookup included; seconds without a byte; a total deadline), written
to a temp file beside the target and checked before it is moved into place, so a failure or a kill leaves nothing
behind (temp files of a killed download are swept at the next start). One download lock per data folder keeps two
sessions, or two servers, from downloading the same files at once. `PTCE_DOWNLOAD_BASE` replaces the official
hosts with a mirror (the tests' local server); every failure is a `DownloadError` whose message is one plain
sentence (`plain_error`).
"""
from __future__ import annotations

import http.client
import os
import shutil
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from core.atomic import TMP_PREFIX
from core.locks import hold

OFFLINE_ENV = "PTCE_OFFLINE"  # set to 1 to never try a download
BASE_ENV = "PTCE_DOWNLOAD_BASE"  # a URL prefix that replaces the official hosts (a mirror; the tests' local server)
OnDownload = Callable[[float, str], None]  # (fraction 0..1, message): a download's progress
OnBytes = Callable[[int, int], None]  # (bytes so far, bytes in all or 0 when the server does not say)


class DownloadError(ConnectionError):
    """A download that failed; the message is one plain sentence (no raw urllib text)."""


def offline() -> bool:
    return os.environ.get(OFFLINE_ENV) == "1"


def mirrored(url: str) -> str:
    """`url` with its scheme and host replaced by PTCE_DOWNLOAD_BASE when that is set (the path is kept:
    https://download.pytorch.org/models/x.pth -> <base>/models/x.pth)."""
    base = os.environ.get(BASE_ENV, "").strip()
    if not base:
        return url
    return base.rstrip("/") + "/" + urllib.parse.urlsplit(url).path.lstrip("/")


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


class _LookupTimeout(OSError):
    pass


def _lookup(host: str, port: int, timeout_s: float) -> tuple:
    """The first address of host:port, within `timeout_s` (getaddrinfo itself has no timeout: a machine whose
    name server does not answer would wait for its resolver's retries)."""
    found: list = []

    def resolve() -> None:
        try:
            found.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][4])
        except OSError as e:
            found.append(e)

    t = threading.Thread(target=resolve, daemon=True, name="download-lookup")
    t.start()
    t.join(timeout_s)
    if not found:
        raise _LookupTimeout(f"looking up {host} took longer than {timeout_s:g} s")
    if isinstance(found[0], OSError):
        raise found[0]
    return found[0]


def _bounded_connection(base: type, read_s: float) -> Callable:
    """An http.client connection class whose name lookup and connect are bounded by the request's timeout and
    whose socket then waits at most `read_s` for bytes."""
    def make(host, **kw):
        conn = base(host, **kw)
        connect = conn.connect

        def create(address, timeout, source_address=None):
            addr = _lookup(address[0], address[1], timeout)
            return socket.create_connection(addr[:2], timeout, source_address)

        def bounded_connect() -> None:
            connect()
            conn.sock.settimeout(read_s)

        conn._create_connection = create
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


def plain_error(e: BaseException, url: str = "", limits: DownloadLimits | None = None) -> str:
    """A failed download in one plain sentence (what happened, not urllib's repr)."""
    limits = limits or DownloadLimits()
    host = urllib.parse.urlsplit(url).netloc or "the server"
    reason = e.reason if isinstance(e, urllib.error.URLError) and not isinstance(e, urllib.error.HTTPError) else e
    if isinstance(e, DownloadError):
        return str(e)
    if isinstance(e, urllib.error.HTTPError):  # the path, not the URL: no link in the message
        return f"{host} answered {e.code} {e.reason or ''}".rstrip() + f" for {urllib.parse.urlsplit(url).path}."
    if isinstance(reason, _LookupTimeout):
        return f"This computer could not look up {host} within {limits.connect_s:g} s: it seems to be offline."
    if isinstance(reason, socket.gaierror):
        return f"This computer could not look up {host}: it seems to be offline (or the name is wrong)."
    if isinstance(reason, ConnectionRefusedError):
        return f"Nothing answered at {host} (connection refused)."
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return (f"{host} stopped answering (the connection stalled: no byte for {limits.read_s:g} s, or no "
                f"connection within {limits.connect_s:g} s).")
    if isinstance(reason, (http.client.IncompleteRead, http.client.HTTPException)):
        return f"{host} closed the connection before the file was complete."
    if isinstance(reason, OSError) and reason.strerror:
        return f"The download from {host} failed: {reason.strerror.lower()}."
    return f"The download from {host} failed ({type(reason).__name__}: {reason})."


def fetch(url: str, dest: Path, limits: DownloadLimits, deadline: float, on_bytes: OnBytes | None = None) -> None:
    """Download `url` (through PTCE_DOWNLOAD_BASE when set) to `dest` within the limits; `deadline` is a
    time.monotonic() value for the whole job. Raises DownloadError with a plain sentence; `dest` may hold part of
    the file then (callers write to a temp file and remove it)."""
    url = mirrored(url)
    opener = urllib.request.build_opener(_HTTP(limits.read_s), _HTTPS(limits.read_s))
    request = urllib.request.Request(url, headers={"User-Agent": "pytorch/vision"})
    too_long = DownloadError(f"The download took longer than {limits.total_s:g} s and was stopped.")
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise too_long
    try:
        with opener.open(request, timeout=min(limits.connect_s, remaining)) as resp, open(dest, "wb") as f:
            total, done = int(resp.headers.get("Content-Length") or 0), 0
            while chunk := resp.read1(1 << 16):  # whatever has arrived: a trickle cannot outlast the deadline
                f.write(chunk)
                done += len(chunk)
                if on_bytes is not None:
                    on_bytes(done, total)
                if time.monotonic() > deadline:
                    raise too_long
            if total and done < total:
                raise DownloadError(f"{urllib.parse.urlsplit(url).netloc} closed the connection after "
                                    f"{done / 2**20:.1f} of {total / 2**20:.1f} MB; try again.")
    except DownloadError:
        raise
    except (OSError, ValueError, http.client.HTTPException) as e:  # timeouts, refusals, HTTP errors, bad URLs
        raise DownloadError(plain_error(e, url, limits)) from e
