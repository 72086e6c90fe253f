"""Getting the seed's route from inside the app: a button per missing asset (ImageNet ResNet-18 weights, CIFAR-10)
saying what it is and its size, one background download of each per server (core.transfer.assets.Downloads),
its progress in every session, and the command instead of the button when downloads are off (PTCE_OFFLINE=1).

When a download ends, the progress view reruns the whole app: the caches that read the files are keyed by the
files' own stamps (ui.transfer_data.imagenet, ui.transfer_data.cifar), so the new route and model appear at once.
"""
from __future__ import annotations

import streamlit as st

from core.data.download import offline
from core.transfer.assets import ASSETS, Download, Downloads, size_text
from ui import resources

K = "dl"  # widget-key prefix
REFRESH_S = 0.5


@st.cache_resource
def downloads() -> Downloads:
    """The server's downloads, shared by every session."""
    return Downloads()


def present(key: str) -> bool:
    return ASSETS[key].present(resources.paths().data)


def running(key: str) -> Download | None:
    job = downloads().latest(key)
    return job if job is not None and job.running else None


def button_label(key: str) -> str:
    asset = ASSETS[key]
    return f"Download {asset.called} ({size_text(asset)})"


def offer(key: str, where: str, problem: str = "", compact: bool = False) -> None:
    """The asset's download button with what it is and its size; its progress while it downloads (any session may
    have pressed); the last failure in plain words; or, offline, the command. `problem`: why a file that is here
    cannot be used (then the button downloads it again). `compact`: the button alone (its help says what the
    asset is), for the sidebar. Draws nothing once the asset is here and usable."""
    asset = ASSETS[key]
    if present(key) and not problem:
        return
    if running(key) is not None:
        progress(key, where)
        return
    if not compact:
        st.markdown(f"**{asset.title}** · {size_text(asset)} — {asset.what}")
    if problem:
        st.warning(problem, icon=":material/report:")
    if offline():
        st.caption(f"{asset.title if compact else 'Downloads are off here'} (`PTCE_OFFLINE=1`): on a machine that "
                   f"is online, run `{asset.command}`.")
        return
    job = downloads().latest(key)
    if job is not None and job.error:
        st.error(job.error, icon=":material/cloud_off:")
    if st.button(button_label(key), key=f"{K}_{key}_{where}", icon=":material/download:",
                 help=(f"{asset.what} " if compact else "") + "Downloads once for this server, in the background: "
                      f"keep using the app meanwhile. Same as `{asset.command}`."):
        downloads().start(key, resources.paths().data)
        st.rerun()


@st.fragment(run_every=REFRESH_S)
def progress(key: str, where: str) -> None:
    """A running download's progress bar; when it ends, the whole app reruns (the new route or the error shows)."""
    job = downloads().latest(key)
    if job is None or not job.running:
        st.rerun()
        return
    st.progress(job.fraction, text=f"{job.message} (in the background: other pages keep working)")


def sidebar() -> None:
    """Inside the sidebar: a progress line per running download (every page shows it), and the buttons of the
    missing assets (for the details panel)."""
    for key in ASSETS:
        if running(key) is not None:
            progress(key, "sidebar")


def sidebar_offers() -> None:
    for key in ASSETS:
        if not present(key) and running(key) is None:
            offer(key, "sidebar", compact=True)
