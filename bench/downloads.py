"""`python -m bench --only download`: the one bounded download (core.data.download.fetch) from a local server, and
the time its checks add.

A loopback HTTP server (tools/file_server) serves random bytes the size of the ImageNet ResNet-18 weights (44.7 MB):
`fetch` into a temp file (MB/s: the reader's own cost, with no network in the way), the whole weights download as
the app's button runs it (fetch, sha256 against the file name's prefix, fsync, move into place), the sha256 check
alone, and CIFAR-10's md5 checks (the 162.6 MB archive and its 177.6 MB of batch files), timed on a 64 MB file
and scaled to those sizes.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.timing import median_ms, row
from core.atomic import sha256_file
from core.data import cifar, download
from core.data.download import DownloadLimits, fetch
from core.transfer import pretrained
from tools.file_server import file_server

MB = 2**20
WEIGHTS_BYTES = 46_830_571  # resnet18-f37072fd.pth
CIFAR_MD5_BYTES = 170_498_071 + 186_214_204  # the archive, then data_batch_1..5 + test_batch + batches.meta


@contextmanager
def _app_download_from(url: str, blob: bytes, torch_home: Path) -> Iterator[None]:
    """The app's weights download pointed at the local server (its checksum: the served bytes'), then put back."""
    old = {k: os.environ.get(k) for k in ("TORCH_HOME", download.BASE_ENV, download.OFFLINE_ENV)}
    real_prefix = pretrained.sha256_prefix
    os.environ.update({"TORCH_HOME": str(torch_home), download.BASE_ENV: url})
    os.environ.pop(download.OFFLINE_ENV, None)
    pretrained.sha256_prefix = lambda: hashlib.sha256(blob).hexdigest()[:8]
    try:
        yield
    finally:
        pretrained.sha256_prefix = real_prefix
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def rows(quick: bool = False) -> list[dict]:
    repeats = 2 if quick else 5
    blob = os.urandom(WEIGHTS_BYTES)
    path = "models/resnet18-f37072fd.pth"
    out = []
    with tempfile.TemporaryDirectory(prefix="ptce-bench-download-") as tmp, file_server({path: blob}) as served:
        tmp = Path(tmp)
        limits = DownloadLimits(connect_s=10, read_s=10, total_s=600)
        ms = median_ms(lambda: fetch(served.url + path, tmp / "w.part", limits, time.monotonic() + limits.total_s),
                       repeats)
        out.append(row("Download · fetch from a local server into a temp file (44.7 MB, loopback)",
                       WEIGHTS_BYTES / MB / (ms / 1000), "MB/s",
                       note=f"{ms:.0f} ms per download; on a real one the network is the limit"))
        out.append(row("Download · verify the ImageNet weights (sha256 of 44.7 MB)",
                       median_ms(lambda: sha256_file(tmp / "w.part"), repeats), "ms"))
        with _app_download_from(served.url, blob, tmp / "torch"):
            ms = median_ms(pretrained.download_weights, repeats)
        out.append(row("Download · the app's weights download end to end (fetch + sha256 + fsync + move)", ms, "ms",
                       note="from the local server; a real one adds the network's time"))
        sample = tmp / "md5.bin"
        sample.write_bytes(os.urandom(64 * MB))
        ms = median_ms(lambda: cifar._md5(sample), repeats)
        out.append(row("Download · verify CIFAR-10 (md5 of the archive and its 7 batch files, 340 MB)",
                       ms / 1000 * CIFAR_MD5_BYTES / (64 * MB), "s", note=f"md5 at {64 / (ms / 1000):.0f} MB/s, "
                                                                           "timed on 64 MB"))
    return out
