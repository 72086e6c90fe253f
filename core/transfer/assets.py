"""The downloads the seed's route needs (ImageNet ResNet-18 weights, CIFAR-10) as one table, and `Downloads`: at
most one background download of each per process, however many sessions ask.

A download runs in a daemon thread (it waits on the network, not the interpreter) through the same function as
its command line (`python -m core.transfer.pretrained --download`, `python -m core.data.cifar --download`), so it
is bounded, verified, written atomically and swept after a kill the same way. Every session reads the same
`Download` record for its progress; a failed one keeps its plain-words error until someone presses again.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from core.data import cifar
from core.data.download import DownloadError, OnDownload, offline
from core.transfer import pretrained


@dataclass(frozen=True)
class Asset:
    key: str
    title: str  # "ImageNet ResNet-18 weights"
    called: str  # in a sentence: "the ImageNet ResNet-18 weights"
    what: str  # what it is and what it unlocks, one sentence
    size_mb: float
    command: str  # the same download from a terminal
    present: Callable[[Path], bool]  # data folder -> on this machine?
    download: Callable[[Path, OnDownload], object]  # (data folder, progress) -> raises DownloadError


ASSETS: dict[str, Asset] = {a.key: a for a in (
    Asset("imagenet-resnet18", "ImageNet ResNet-18 weights", "the ImageNet ResNet-18 weights",
          "torchvision's ResNet-18 trained on ImageNet's 1.28 million photos (IMAGENET1K_V1): the starting point of "
          "the CIFAR-10 route and the model that explains your photos on the Saliency page.",
          pretrained.WEIGHTS_MB, pretrained.COMMAND, lambda data_dir: pretrained.present(),
          lambda data_dir, report: pretrained.download_weights(report)),
    Asset("cifar10", "CIFAR-10", "CIFAR-10",
          "60,000 small photos (32×32) in 10 classes, airplane to truck: the task the seed's program transfers "
          "ImageNet's ResNet-18 to.",
          cifar.CIFAR_MB, cifar.COMMAND, cifar.present,
          lambda data_dir, report: cifar.download_cifar(data_dir, report)),
)}


def size_text(asset: Asset) -> str:
    """44.7 MB, 163 MB: three digits at most."""
    return f"{asset.size_mb:.3g} MB"


@dataclass(eq=False)
class Download:
    """One download of one asset, updated by its thread and read by every session."""

    asset: Asset
    fraction: float = 0.0
    message: str = "Starting"
    error: str = ""  # plain words, once it failed
    started: float = field(default_factory=time.monotonic)
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def running(self) -> bool:
        return not self.done.is_set()


class Downloads:
    """The process's downloads: `start` begins one unless that asset's download is running (then it returns that
    one), `latest` is the last one started (running, failed or done)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: dict[str, Download] = {}

    def latest(self, key: str) -> Download | None:
        with self._lock:
            return self._latest.get(key)

    def start(self, key: str, data_dir: Path) -> Download:
        asset = ASSETS[key]
        with self._lock:
            job = self._latest.get(key)
            if job is not None and job.running:
                return job
            job = self._latest[key] = Download(asset)
        if offline():
            job.error = f"Downloads are off on this machine (PTCE_OFFLINE=1): run `{asset.command}` where it is online."
            job.done.set()
            return job
        threading.Thread(target=self._run, args=(job, Path(data_dir)), name=f"download-{key}", daemon=True).start()
        return job

    @staticmethod
    def _run(job: Download, data_dir: Path) -> None:
        def report(fraction: float, message: str) -> None:
            job.fraction, job.message = min(max(fraction, 0.0), 1.0), message

        try:
            job.asset.download(data_dir, report)
            job.fraction, job.message = 1.0, f"{job.asset.title}: downloaded and verified"
        except DownloadError as e:
            job.error = str(e)
        except Exception as e:  # noqa: BLE001 - anything else is still said, never left running
            job.error = f"The download failed unexpectedly ({type(e).__name__}: {e})."
        finally:
            job.done.set()
