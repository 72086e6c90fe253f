"""The seed's downloads (ImageNet ResNet-18 weights, CIFAR-10) through the one bounded fetch, from a local server that
stands in for the official hosts (PTCE_DOWNLOAD_BASE): success, a server that stalls half way through the file, a
wrong checksum, 404, a refused connection, a name that does not resolve (offline) or whose lookup hangs, two
sessions asking at once (one download), and a process killed in the middle (no partial file; the next try works).

Every file is made by the test (a random-valued ResNet-18 with torchvision's keys; a tiny CIFAR-10 archive); the
checksums the code expects are pointed at them, since the official ones belong to the official files."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from core.data import cifar, download
from core.data.download import DownloadError, DownloadLimits
from core.transfer import assets, pretrained
from support import ROOT, cifar_archive, fake_imagenet_bytes, url_path
from tools.file_server import file_server, refused_url, stalled_server

FAST = DownloadLimits(connect_s=2.0, read_s=1.0, total_s=20.0)
WEIGHTS_PATH = url_path("https://download.pytorch.org/models/resnet18-f37072fd.pth")  # "models/resnet18-f37072fd.pth"


@pytest.fixture
def weights(tmp_path, monkeypatch):
    """Test-made weights served at the official path; torch hub's cache in tmp; the checksum they must match."""
    import hashlib

    blob = fake_imagenet_bytes()
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv(download.OFFLINE_ENV, raising=False)
    monkeypatch.setattr(pretrained, "sha256_prefix", lambda: hashlib.sha256(blob).hexdigest()[:8])
    return blob


def leftovers(folder: Path) -> list[str]:
    """Temp files and folders a download could leave behind."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".tmp-")) if folder.is_dir() else []


def test_weights_download_from_a_mirror_is_verified_and_loads(weights, monkeypatch):
    with file_server({WEIGHTS_PATH: weights}) as served:
        monkeypatch.setenv(download.BASE_ENV, served.url)
        seen = []
        path = pretrained.download_weights(lambda f, m: seen.append((f, m)))
    assert path == pretrained.hub_cache_file() and path.read_bytes() == weights
    assert served.requests[WEIGHTS_PATH] == 1 and leftovers(path.parent) == []
    assert seen[-1] == (1.0, "ResNet-18 weights downloaded and verified")
    assert any("MB" in m and 0 < f < 1 for f, m in seen)  # progress in MB while it ran
    res = pretrained.load_imagenet_weights()  # torchvision's own loading path finds the file
    assert res.ok and torch.equal(res.state["fc.weight"], torch.load(path, weights_only=True)["fc.weight"])


def test_a_server_that_stalls_half_way_fails_within_the_bound_and_leaves_nothing(weights, monkeypatch):
    with file_server({WEIGHTS_PATH: weights}, stall={WEIGHTS_PATH}) as served:
        monkeypatch.setenv(download.BASE_ENV, served.url)
        t0 = time.monotonic()
        with pytest.raises(DownloadError, match="stopped answering") as e:
            pretrained.download_weights(limits=FAST)
        assert served.half_sent.is_set() and time.monotonic() - t0 < FAST.total_s
    assert "Traceback" not in str(e.value) and "urlopen" not in str(e.value)
    folder = pretrained.hub_cache_file().parent
    assert not pretrained.present() and leftovers(folder) == []


def test_a_wrong_checksum_is_refused_and_nothing_is_kept(weights, monkeypatch):
    with file_server({WEIGHTS_PATH: weights[:-10] + b"0123456789"}) as served:
        monkeypatch.setenv(download.BASE_ENV, served.url)
        with pytest.raises(DownloadError, match="failed their checksum"):
            pretrained.download_weights(limits=FAST)
    assert not pretrained.present() and leftovers(pretrained.hub_cache_file().parent) == []


def test_404_and_a_refused_connection_are_one_plain_sentence(weights, monkeypatch):
    with file_server({}) as served:
        monkeypatch.setenv(download.BASE_ENV, served.url)
        with pytest.raises(DownloadError, match=r"^127\.0\.0\.1:\d+ answered 404 Not Found for /models/\S+\.pth\.$"):
            pretrained.download_weights(limits=FAST)
    url = refused_url()
    monkeypatch.setenv(download.BASE_ENV, url)
    with pytest.raises(DownloadError, match=r"^Nothing answered at 127\.0\.0\.1:\d+ \(connection refused\)\.$"):
        pretrained.download_weights(limits=FAST)
    with stalled_server() as silent:  # accepts, never answers
        monkeypatch.setenv(download.BASE_ENV, silent)
        with pytest.raises(DownloadError, match="stopped answering"):
            pretrained.download_weights(limits=FAST)
    assert not pretrained.present() and leftovers(pretrained.hub_cache_file().parent) == []


def test_offline_fails_within_seconds_with_a_plain_sentence(weights, monkeypatch):
    """No network: a name that does not resolve fails at once; a name server that never answers is cut off after
    the connect bound (getaddrinfo itself would wait for the resolver's retries)."""
    monkeypatch.setenv(download.BASE_ENV, "http://ptce-no-network.invalid/")
    with pytest.raises(DownloadError, match="could not look up ptce-no-network.invalid: it seems to be offline"):
        pretrained.download_weights(limits=FAST)
    hung = threading.Event()
    real = socket.getaddrinfo

    def never_answers(host, *args, **kwargs):
        if host == "ptce-no-network.invalid":
            hung.wait(30)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", never_answers)
    t0 = time.monotonic()
    with pytest.raises(DownloadError, match=r"could not look up ptce-no-network.invalid within 2 s"):
        pretrained.download_weights(limits=FAST)
    hung.set()
    assert time.monotonic() - t0 < FAST.total_s and not pretrained.present()


def test_cifar_download_verifies_every_md5_and_loads(tmp_path, monkeypatch):
    blob, source = cifar_archive(tmp_path)
    monkeypatch.setattr(cifar, "official_source", lambda: source)
    monkeypatch.delenv(download.OFFLINE_ENV, raising=False)
    data_dir = tmp_path / "data"
    path = url_path(source.url)
    with file_server({path: blob}) as served:
        monkeypatch.setenv(download.BASE_ENV, served.url)
        cifar.download_cifar(data_dir, limits=FAST)
    data, note = cifar.load_cifar10(data_dir)
    assert note == "" and data.train.images.shape == (30, 3, 32, 32) and len(data.test) == 6
    assert sorted(p.name for p in cifar.cifar_dir(data_dir).iterdir()) == sorted(
        [*cifar.TRAIN_FILES, cifar.TEST_FILE, cifar.META_FILE, cifar.MANIFEST])
    assert leftovers(data_dir) == []


def test_a_cifar_archive_with_the_wrong_md5_is_refused(tmp_path, monkeypatch):
    blob, source = cifar_archive(tmp_path)
    monkeypatch.delenv(download.OFFLINE_ENV, raising=False)
    data_dir = tmp_path / "data"
    with file_server({url_path(source.url): blob}) as served:
        monkeypatch.setenv(download.BASE_ENV, served.url)
        with pytest.raises(DownloadError, match="failed its md5 check"):
            cifar.download_cifar(data_dir, limits=FAST)  # torchvision's md5: not the test-made archive
        data, note = cifar.load_cifar10(data_dir, allow_download=True)  # the same, said in the app's words
    assert data is None and "could not be downloaded: The downloaded CIFAR-10 archive failed its md5" in note
    assert not cifar.cifar_dir(data_dir).exists() and leftovers(data_dir) == []


def test_two_sessions_asking_at_once_make_one_download(weights, tmp_path, monkeypatch):
    """The server's Downloads: the second start while the first runs returns the same download; one GET."""
    with file_server({WEIGHTS_PATH: weights}, stall={WEIGHTS_PATH}) as served:
        monkeypatch.setenv(download.BASE_ENV, served.url)
        pool = assets.Downloads()
        first = pool.start("imagenet-resnet18", tmp_path)
        served.half_sent.wait(30)
        second = pool.start("imagenet-resnet18", tmp_path)
        assert second is first and first.running and 0 < first.fraction < 1 and "MB" in first.message
        served.release.set()  # the stalled response closes: that download fails...
        assert first.done.wait(30) and first.error
    with file_server({WEIGHTS_PATH: weights}) as served:
        monkeypatch.setenv(download.BASE_ENV, served.url)
        again = pool.start("imagenet-resnet18", tmp_path)  # ...and a later press starts a new one
        assert again is not first and again.done.wait(30) and not again.error
        assert pool.start("imagenet-resnet18", tmp_path) is not again  # a finished one is not "running"
        assert pool.latest("imagenet-resnet18").done.wait(30)
    assert served.requests[WEIGHTS_PATH] == 2 and pretrained.present()


def test_downloads_are_off_with_ptce_offline(tmp_path, monkeypatch):
    monkeypatch.setenv(download.OFFLINE_ENV, "1")
    job = assets.Downloads().start("cifar10", tmp_path)
    assert job.done.is_set() and "PTCE_OFFLINE=1" in job.error and "python -m core.data.cifar --download" in job.error


@pytest.mark.slow
@pytest.mark.parametrize("asset", ["imagenet-resnet18", "cifar10"])
def test_a_download_killed_in_the_middle_leaves_no_file_and_the_next_try_works(asset, weights, tmp_path,
                                                                               monkeypatch):
    """The command line (`python -m core.transfer.pretrained --download`, `python -m core.data.cifar --download`,
    the same code as the app's button) is killed (SIGKILL) once the server has sent half the file: the target is
    not there, and the next download sweeps the dead one's temp file and succeeds."""
    blob, source = cifar_archive(tmp_path)
    monkeypatch.setattr(cifar, "official_source", lambda: source)
    files = {WEIGHTS_PATH: weights, url_path(source.url): blob}
    home = tmp_path / "home"
    module = {"imagenet-resnet18": "core.transfer.pretrained", "cifar10": "core.data.cifar"}[asset]
    where = {"imagenet-resnet18": pretrained.hub_cache_file().parent, "cifar10": home / "data"}[asset]
    with file_server(files, stall=set(files)) as served:
        env = {**os.environ, download.BASE_ENV: served.url, "PTCE_HOME": str(home), "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen([sys.executable, "-m", module, "--download"], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            assert served.half_sent.wait(120), "the download never started"
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
    assert not assets.ASSETS[asset].present(home / "data")
    assert leftovers(where), "a killed download leaves its temp file until the next one (nothing else)"
    with file_server(files) as served:
        monkeypatch.setenv(download.BASE_ENV, served.url)
        assets.ASSETS[asset].download(home / "data", lambda f, m: None)
    assert assets.ASSETS[asset].present(home / "data") and leftovers(where) == []
