"""The Transfer page's data and starting weights: ImageNet's ResNet-18 weights and CIFAR-10 (cached by the files'
own stamps), what is missing of them and the download offer, and the digits and CIFAR-10 tasks a config trains on.
"""
from __future__ import annotations

import streamlit as st

from core.data.cifar import MANIFEST, CifarData, cifar_dir, load_cifar10
from core.data.mnist import load_sample
from core.transfer.config import TransferConfig
from core.transfer.pretrained import WeightsResult, hub_cache_file, load_imagenet_weights
from core.transfer.tasks import ImageTask, cifar_task, digit_tasks
from ui import downloads, resources


def stamp(path) -> tuple:
    """What a cache that reads `path` is keyed by: the path and, when it exists, its size and change time. A file
    that appears (a download landed), changes or goes away makes a new key, so no session keeps a stale answer
    (a cache keyed by nothing kept "missing" for the server's life)."""
    try:
        st_ = path.stat()
    except OSError:
        return (str(path),)
    return str(path), st_.st_size, st_.st_mtime_ns


@st.cache_resource(max_entries=2, show_spinner="Reading the ImageNet weights…")
def _imagenet(file_stamp: tuple) -> WeightsResult:
    return load_imagenet_weights(allow_download=False)


def imagenet() -> WeightsResult:
    """ResNet-18's ImageNet weights from torch hub's cache (read again only when the file changes)."""
    return _imagenet(stamp(hub_cache_file()))


@st.cache_resource(max_entries=2, show_spinner="Loading CIFAR-10…")
def _cifar(manifest_stamp: tuple, data_dir: str) -> tuple[CifarData | None, str]:
    return load_cifar10(data_dir, allow_download=False)


def cifar() -> tuple[CifarData | None, str]:
    """(CIFAR-10, '') or (None, why not): decoded and verified once per manifest file."""
    data_dir = resources.paths().data
    return _cifar(stamp(cifar_dir(data_dir) / MANIFEST), str(data_dir))


def missing() -> dict[str, str]:
    """{asset key: why it cannot be used} for the ImageNet weights and CIFAR-10 (empty: both are here and good).
    The reason is '' for a file that is simply not here yet (its download button says the rest)."""
    out = {}
    w = imagenet()
    if not w.ok:
        out["imagenet-resnet18"] = w.reason if downloads.present("imagenet-resnet18") else ""
    data, note = cifar()
    if data is None:
        out["cifar10"] = note if downloads.present("cifar10") else ""
    return out


def route_offer(gaps: dict[str, str]) -> None:
    """What the seed's route needs, with a download button per missing file."""
    with st.container(border=True):
        st.markdown("**The seed's route, CIFAR-10 with ImageNet weights, needs "
                    + ("these downloads" if len(gaps) > 1 else "this download")
                    + ".** Until then this page teaches with the offline route (digits).")
        for key, problem in gaps.items():
            downloads.offer(key, "transfer", problem)


@st.cache_resource(max_entries=1, show_spinner="Loading the bundled digits…")
def _sample():
    """The bundled MNIST sample (the one the app already uses when full MNIST is absent), decoded once."""
    data = resources.mnist()
    return data if data.source == "mnist-sample" else load_sample()


@st.cache_resource(max_entries=4, show_spinner=False)
def task(source: str, labels_per_class: int, subset: int) -> ImageTask:
    """The target task: digits 5-9 with few labels (bundled MNIST), or a class-balanced CIFAR-10 subset."""
    if source == "cifar10":
        return cifar_task(cifar()[0], subset)
    return digit_tasks(_sample(), labels_per_class)[1]


@st.cache_resource(max_entries=1, show_spinner=False)
def source_task() -> ImageTask:
    """The pretraining's task: digits 0-4, every label (the target's labels per class do not change it)."""
    return digit_tasks(_sample(), 1)[0]


def task_of(cfg: TransferConfig) -> ImageTask:
    return task(cfg.source, cfg.labels_per_class if cfg.source == "digits" else 0,
                cfg.subset if cfg.source == "cifar10" else 0)
