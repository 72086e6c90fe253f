"""Uploads from outside (BAD_INPUTS 26-27): upload caps that agree, so the largest export re-imports through the
page and an over-limit file gets the widget's sentence, never the server's bare 413; and small files that decode
huge (a 95 KB PNG of 7000×7000 with alpha or 16 bits) decoded within a memory bound, one at a time."""
from __future__ import annotations

import ast
import tomllib

import pytest
from PIL import Image

from core.data.uploads import MAX_FILE_BYTES
from core.runs.archive import HEADER_BYTES, MAX_META_BYTES, export_run, read_archive
from core.runs.kinds import KINDS
from core.runs.store import RunStore
from core.transfer.config import TransferConfig
from core.transfer.strategies import STRATEGIES
from core.zips import MAX_ARCHIVE_BYTES
from support import ROOT, own_home, page_app
from tools.fake_runs import make_transfer_run, synthetic_run


def server_cap_mb() -> int:
    return tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["server"]["maxUploadSize"]


def test_every_file_uploader_sets_its_own_cap():
    calls = []
    for path in [*(ROOT / "ui").glob("*.py"), *(ROOT / "pages").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "file_uploader":
                calls.append((path.name, {k.arg for k in node.keywords}))
    assert calls and all("max_upload_size" in kw for _, kw in calls), calls


def test_the_server_cap_is_the_largest_widget_cap(tmp_path):
    """The server answers 413 to a body over server.maxUploadSize before any widget sees it, so it must be the
    largest of the widgets' own caps: images 10 MB, run archives MAX_ARCHIVE_BYTES."""
    with own_home(tmp_path):
        RunStore(tmp_path / "runs").save(synthetic_run(0))  # a model for the Saliency page to explain
        caps = {}
        for page, session in (("saliency", {"sal_source": "Upload"}), ("runs", {})):
            for up in page_app(page, session=session).file_uploader:
                caps[up.key] = up.proto.max_upload_size_mb
    assert caps == {"sal_upload": MAX_FILE_BYTES >> 20, "runs_import": MAX_ARCHIVE_BYTES >> 20}, caps
    assert caps["sal_upload"] == 10
    assert server_cap_mb() == max(caps.values())


def _largest_weights() -> int:
    """Bytes of the largest weights any listed run kind stores (every transfer strategy and task, every MNIST
    architecture at its largest hidden size, fine-tuning on the most own classes and photos, the widest and deepest
    Playground network)."""
    import json

    from core.lessons.playground.config import FEATURES, MAX_LAYERS, MAX_NEURONS, PlaygroundConfig
    from core.lessons.playground.run import PlaygroundRun, Segment
    from core.models.registry import ARCHITECTURES, ModelConfig
    from core.training.config import TrainConfig
    from core.transfer.own.config import OwnClassesConfig
    from core.transfer.own.dataset import MAX_CLASSES, MAX_PHOTOS

    configs = [TransferConfig(strategy=s, weights="random" if s == "scratch" else "imagenet", source=src, k_stages=4)
               for s in STRATEGIES for src in ("digits", "cifar10")]
    configs += [TrainConfig(model=ModelConfig(arch, hidden=512)) for arch in ARCHITECTURES if arch != "built"]
    configs.append(OwnClassesConfig("0" * 16, json.dumps([f"c{i}" for i in range(MAX_CLASSES)]), MAX_PHOTOS, "1" * 16,
                                    strategy="finetune"))
    wide = PlaygroundConfig(features=tuple(FEATURES), hidden=(MAX_NEURONS,) * MAX_LAYERS)
    configs.append(PlaygroundRun(wide, (Segment.of(wide, 1),)))
    kind_of = {k.config: k for k in KINDS.values() if k.listed}
    assert {type(c) for c in configs} == set(kind_of), "a new listed kind needs its largest config here"
    return max(sum(t.numel() * t.element_size() for t in kind_of[type(c)].expected_state(c).values())
               for c in configs)


def test_the_largest_archive_the_app_can_export_fits_the_import_cap():
    # run.json is refused over MAX_META_BYTES uncompressed, weights over their tensors plus HEADER_BYTES: so no
    # archive of a listed kind that import accepts is larger than this (zip headers: a few hundred bytes)
    assert _largest_weights() + HEADER_BYTES + MAX_META_BYTES + (64 << 10) <= MAX_ARCHIVE_BYTES
    run = make_transfer_run(TransferConfig(strategy="full", weights="imagenet", source="cifar10", epochs=30))
    data = export_run(run, 1.7e9)
    assert 44e6 < len(data) <= MAX_ARCHIVE_BYTES  # a whole ResNet-18: 44.8 MB
    assert read_archive(data)[0].config == run.config


# ---------------------------------------------------------------- in a real browser
@pytest.mark.slow
@pytest.mark.browser
def test_the_largest_export_reimports_and_an_oversized_image_gets_a_sentence(page, tmp_path, app_server_home):
    url, home = app_server_home
    RunStore(home / "runs").save(synthetic_run(47))  # so the page shows its table (settings no other test uses)
    run = make_transfer_run(TransferConfig(strategy="full", weights="imagenet", source="cifar10", epochs=30))
    archive = export_run(run, 1.7e9)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url + "/runs")
    uploader = page.locator("[data-testid='stFileUploader'] input[type=file]")
    uploader.wait_for(state="attached", timeout=180_000)
    # Files by path: Chromium reads them itself (a buffer would cross the browser protocol as base64).
    (tmp_path / "run.zip").write_bytes(archive)
    uploader.set_input_files(str(tmp_path / "run.zip"))
    page.get_by_text("Imported Full fine-tuning").first.wait_for(timeout=180_000)
    page.goto(url + "/saliency")
    page.get_by_text("Upload", exact=True).first.click()  # the page opens on a sample photo
    uploader = page.locator("[data-testid='stFileUploader'] input[type=file]")
    uploader.wait_for(state="attached", timeout=180_000)
    big = b"\x89PNG\r\n\x1a\n" + bytes(MAX_FILE_BYTES + 1024)
    (tmp_path / "big.png").write_bytes(big)
    uploader.set_input_files(str(tmp_path / "big.png"))
    page.get_by_text("File must be 10.0MB or smaller.").first.wait_for(timeout=60_000)
    body = page.locator("body").inner_text()
    assert "Axios" not in body and "413" not in body and not errors, (body[-500:], errors)


# ---------------------------------------------------------------- small files that decode huge
@pytest.fixture(scope="module")
def huge_pngs(tmp_path_factory) -> dict:
    from tools.big_images import write_huge_pngs

    return write_huge_pngs(tmp_path_factory.mktemp("huge"))


def test_huge_pngs_are_small_files_under_the_limits(huge_pngs):
    from core.data.uploads import MAX_DECLARED_PIXELS

    for path in huge_pngs.values():
        assert path.stat().st_size < 250_000
        with Image.open(path) as im:
            assert im.size == (7000, 7000) and im.size[0] * im.size[1] <= MAX_DECLARED_PIXELS


@pytest.mark.parametrize("mode", ["LA", "RGBA", "I;16"])
def test_no_float_array_of_the_full_image_ever_exists(huge_pngs, mode):
    """numpy's allocations are traced (Pillow's own are not): while a 7000×7000 file decodes, the arrays alive at
    once stay within a strip's float work and the small result, never the 392 MB of a full-size float copy."""
    import tracemalloc

    from core.data.uploads import decode_image

    data = huge_pngs[mode].read_bytes()
    tracemalloc.start()
    try:
        out = decode_image(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert max(out.pixels.shape[:2]) == 2048 and any("downscaled from 7000×7000" in n for n in out.notes)
    assert peak < 64 << 20, f"{peak / 2**20:.0f} MiB of arrays alive at once"


@pytest.mark.slow
def test_decoding_huge_pngs_stays_within_the_stated_bound(huge_pngs):
    """Peak resident memory added by a decode, in a fresh process: the decoded image in its own mode (at most 4
    bytes a pixel: 187 MiB for 7000×7000), one RGB copy of the reduced image and a strip's work; four uploads at
    once queue for one decode at a time, so they add little more than one."""
    from tools.big_images import decode_peak

    one = 4 * 7000 * 7000 / 2**20 + 96  # MiB
    for mode, path in huge_pngs.items():
        added = decode_peak([path])["added_mib"]
        assert added < one, (mode, added)
    four = decode_peak([huge_pngs["LA"], huge_pngs["RGBA"], huge_pngs["I;16"], huge_pngs["RGBA"]], at_once=4)
    assert len(four["shapes"]) == 4 and four["added_mib"] < one + 3 * 48, four
