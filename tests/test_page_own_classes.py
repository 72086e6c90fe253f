"""The Transfer page's route "Your own classes" in AppTest, with a test-made ImageNet-shaped ResNet-18 (torchvision's
random initialization, the real keys) in a temporary torch hub cache and scikit-image's sample photos as three
classes (each: the photo, its mirror image and crops): classes made, trained, a new photo predicted, Saliency opened on
the learner's model, export -> import; bad files, names and addresses get a sentence and lose nothing."""
from __future__ import annotations

import io
import re
import struct
import zlib

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

import ui.own_data
import ui.own_models
import ui.resources
import ui.saliency
import ui.transfer_data
from core.config import Paths
from core.transfer.own.archive import export_dataset
from core.transfer.own.config import OwnClassesConfig
from core.transfer.pretrained import hub_cache_file
from support import OWN_SAMPLES, ROOT, own_home, page_app, rerun, sample_variants, texts, write_fake_imagenet
from ui.own_classes import here
from ui.text import md

TRANSFER = str(ROOT / "pages" / "transfer.py")
SALIENCY = str(ROOT / "pages" / "saliency.py")
CACHES = (ui.resources.store, ui.transfer_data._imagenet, ui.own_models._backbone, ui.resources._loaded,
          ui.own_models._learner_model, ui.own_models.predict, ui.own_data._store, ui.own_data.thumbnail,
          ui.saliency.prediction, ui.saliency.explain, ui.saliency._twins, ui.saliency.layers)


def _clear() -> None:
    for cache in CACHES:
        cache.clear()


@pytest.fixture
def classes_home(tmp_path, monkeypatch):
    """A private home (store and kept photos), and ImageNet-keyed weights (random values) in a temporary torch hub
    cache."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    write_fake_imagenet(hub_cache_file())
    with own_home(tmp_path):
        _clear()
        yield tmp_path
        _clear()


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    """A private store and an empty torch hub cache: the route without ImageNet weights."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(ui.resources, "paths", lambda: Paths(tmp_path))
    _clear()
    yield tmp_path
    _clear()


def png(im: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt)
    return buf.getvalue()


def own_page(**query) -> AppTest:
    return page_app("transfer", {"route": "own", **query})


def uploader(at: AppTest, name: str):
    return next(u for u in at.file_uploader if u.label == f"Add photos to “{name}”")


def name_classes(at: AppTest, names: list[str]) -> None:
    while len(at.text_input) < len(names):
        at.button(key="own_add").click()
        rerun(at)
    for i, name in enumerate(names):
        at.text_input[i].set_value(name)
        rerun(at)


def add(at: AppTest, name: str, files: list[tuple[str, bytes]]) -> None:
    uploader(at, name).set_value([(f, b, "image/png") for f, b in files])
    rerun(at)


def three_classes(at: AppTest) -> None:
    name_classes(at, list(OWN_SAMPLES))
    for name, key in OWN_SAMPLES.items():
        add(at, name, [(f"{key}-{i}.png", b) for i, b in enumerate(sample_variants(key, 6))])
        assert f"Added 6 photos to “{name}”." in texts(at, "success")


def counts(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown if re.match(r"\*\*\d+\*\* photo", m.value)]


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def test_the_whole_route_classes_train_predict_saliency_export_import(classes_home):
    at = own_page()
    assert at.radio(key="tl_route").value == "own" and "Before training:" in at.info[0].value
    three_classes(at)
    assert counts(at) == ["**6** photos"] * 3 and not at.error
    # the camera adds a frame to the class picked beside it
    at.toggle(key="own_camera").set_value(True)
    rerun(at)
    ids = [c.id for c in ui.own_data.store().dataset()[0].classes]
    at.selectbox(key="own_cam_class").set_value(ids[1])
    rerun(at)
    frame = png(Image.fromarray(np.asarray(Image.open(io.BytesIO(sample_variants("coffee", 7)[6])))), "JPEG")
    at.camera_input[0].set_value(("shot.jpg", frame, "image/jpeg"))
    rerun(at)
    assert counts(at) == ["**6** photos", "**7** photos", "**6** photos"]
    at.toggle(key="own_camera").set_value(False)
    rerun(at)
    # train: feature extraction, in this process, k-fold scored
    assert "s** here: 19 photos × 1 view, 0 features still to compute" in texts(at, "caption")
    button(at, "Train").click()
    rerun(at)
    assert not at.error, [e.value for e in at.error]
    verdict = next(m.value for m in at.markdown if m.value.startswith("5-fold cross-validation"))
    assert "of 19** photos right when held out" in verdict and "95% interval" in verdict
    per_class = next(d.value for d in at.dataframe if "right when held out" in d.value.columns)
    assert per_class["class"].tolist() == list(OWN_SAMPLES) and per_class["photos"].tolist() == [6, 7, 6]
    charts = [c.proto.spec for c in at.get("plotly_chart")]
    assert any("Held-out confusion (5-fold)" in s for s in charts)
    cfg = next(s.config for s in ui.resources.store().summaries("own-classes"))
    assert isinstance(cfg, OwnClassesConfig) and cfg.names() == tuple(OWN_SAMPLES) and cfg.n_photos == 19
    # every control and the dataset are in the address
    assert at.query_params["own_data"] == cfg.dataset and at.query_params["own_strategy"] == "feature"
    # a new photo gets its class probabilities at once
    at.radio(key="own_try_source").set_value("Sample photo")
    rerun(at)
    at.selectbox(key="own_try_sample").set_value("chelsea")
    rerun(at)
    assert any(m.value.startswith("Prediction: **") for m in at.markdown)
    assert any('"probability (%)"' in c.proto.spec for c in at.get("plotly_chart"))
    assert (at.query_params["own_try"], at.query_params["own_sample"]) == ("Sample photo", "chelsea")
    # ... and opens on the Saliency page with the learner's model and that photo
    button(at, "See why on the Saliency page").click()
    rerun(at)
    key = ui.own_models.PREFIX + cfg.key()
    assert at.session_state[ui.own_models.HANDOFF] == key
    sal = AppTest.from_file(SALIENCY, default_timeout=300)
    for k in (ui.own_models.HANDOFF, ui.own_models.PHOTO):
        sal.session_state[k] = at.session_state[k]
    rerun(sal)
    assert sal.selectbox(key="sal_model").value == key
    assert sal.radio(key="sal_source").value == ui.own_models.SOURCE
    assert not sal.error, [e.value for e in sal.error]
    top = next(c.proto.spec for c in sal.get("plotly_chart") if '"probability (%)"' in c.proto.spec)
    assert all(name in top for name in OWN_SAMPLES)  # the learner's classes, not ImageNet's
    sal.multiselect(key="sal_methods").set_value(["saliency", "grad_cam"])
    rerun(sal)
    assert not sal.error and any("What it computes" in m.value for m in sal.markdown)
    # export -> start again -> import: the same classes, and the same stored run opens
    blob = export_dataset(ui.own_data.store(), ui.own_data.store().dataset()[0])
    button(at, "Start again with two empty classes").click()
    rerun(at)
    assert counts(at) == ["**0** photos · needs 5 more"] * 2
    at.file_uploader(key="own_import").set_value(("classes.zip", blob, "application/zip"))
    rerun(at)
    assert "Imported 3 classes and 19 photos" in texts(at, "success")
    assert counts(at) == ["**6** photos", "**7** photos", "**6** photos"]
    assert any(m.value.startswith("5-fold cross-validation") for m in at.markdown)  # the stored run, not retrained
    assert len(ui.resources.store().summaries("own-classes")) == 1


def test_training_runs_lists_the_run_and_opens_it_with_its_classes(classes_home):
    at = own_page()
    three_classes(at)
    button(at, "Train").click()
    rerun(at)
    cfg = next(s.config for s in ui.resources.store().summaries("own-classes"))
    runs = page_app("runs")
    row = runs.data_editor[0].value.iloc[0]
    assert (row["model"], row["config"], row["data"]) == ("ResNet-18", "Feature extraction · 5-fold", "own (3)")
    link = runs.get("link_button")[0].proto.url
    assert link.startswith("transfer?route=own&own_data=" + cfg.dataset) and "own_strategy=feature" in link
    # another working set, then the run's link: its own classes come back, the other set is kept
    at.button(key="own_fresh").click()
    rerun(at)
    from core.runs.kinds import KINDS

    page, settings = KINDS["own-classes"].link(cfg)
    assert page == "transfer" and settings["route"] == "own"
    again = page_app("transfer", {**settings, "own_try": "Camera"})  # an address never turns the camera on
    assert f"Ignored {md('own_try=Camera')} in the page address" in texts(again, "warning")
    assert again.radio(key="own_try_source").value == "Upload"
    assert "Opened the classes of the address" in texts(again, "info")
    assert counts(again) == ["**6** photos"] * 3
    assert any(m.value.startswith("5-fold cross-validation") for m in again.markdown)
    assert [s.dataset.n_photos for s in ui.own_data.store().saved_sets()] == [18]  # the run's (an empty set is
    # not worth keeping)


def bomb() -> bytes:
    data = bytearray(png(Image.new("L", (8, 8))))
    ihdr = struct.pack(">IIBBBBB", 30_000, 30_000, 8, 0, 0, 0, 0)
    data[16:29], data[29:33] = ihdr, struct.pack(">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF)
    return bytes(data)


def test_bad_files_names_and_photos_get_a_sentence_and_lose_nothing(no_weights):
    at = own_page()
    name_classes(at, ["cat", "cup"])
    good = sample_variants("chelsea", 5)
    add(at, "cat", [(f"cat-{i}.png", b) for i, b in enumerate(good)])
    whole = png(Image.new("RGB", (300, 200), (20, 40, 60)))
    bad = [("cat.png", np.random.default_rng(0).bytes(3000)), ("page.jpg", b"<!DOCTYPE html><html></html>"),
           ("doc.jpg", b"%PDF-1.4\n%%EOF\n"), ("empty.png", b""), ("one.png", b"\x89"),
           ("cut.png", whole[: len(whole) // 2]), ("bomb.png", bomb()), ("tiny.png", png(Image.new("RGB", (1, 1)))),
           ("strip.png", png(Image.new("RGB", (1, 5000)))), ("tiff.png", png(Image.new("RGB", (64, 64)), "TIFF"))]
    add(at, "cup", bad + [("fine.png", whole)])
    errors = texts(at, "error")
    assert "10 files could not be used" in errors
    for name, _ in bad:
        assert name.replace(".", "\\.") in errors, name
    for words in ("not an image in a supported format", "empty", "cut off", "not opened", "only 1×1", "1×5000"):
        assert words in errors, words
    assert counts(at) == ["**5** photos", "**1** photo · needs 4 more"]  # the good file of the batch was kept
    # the same photo in another class: refused with a sentence; nothing changes
    add(at, "cup", [("again.png", good[0])])
    assert "a photo can teach one class only" in texts(at, "warning")
    assert counts(at) == ["**5** photos", "**1** photo · needs 4 more"]
    # two classes with the same name: refused, the name stays
    at.text_input[1].set_value("CAT")
    rerun(at)
    assert "two classes can't share a name" in texts(at, "warning") and at.text_input[1].value == "cup"
    at.text_input[1].set_value("<img src=x>")
    rerun(at)
    assert "letters, digits" in texts(at, "warning") and at.text_input[1].value == "cup"
    # remove one photo, then a class
    at.multiselect(key=f"own_pick_{ui.own_data.store().dataset()[0].classes[0].id}").set_value([0])
    rerun(at)
    button(at, "Remove photos").click()
    rerun(at)
    assert "Removed 1 photo." in texts(at, "info") and counts(at) == ["**4** photos · needs 1 more",
                                                                      "**1** photo · needs 4 more"]
    at.button(key="own_add").click()
    rerun(at)
    at.button(key=f"own_drop_{ui.own_data.store().dataset()[0].classes[2].id}").click()
    rerun(at)
    assert "Removed the class “Class 1”." in texts(at, "info") and len(at.text_input) == 2
    add(at, "cat", [("back.png", good[0])])  # the removed photo can come back
    # an empty class and a class with too few photos: what to do, not a Train button (and no weights here)
    at.button(key="own_add").click()
    rerun(at)
    assert "needs ResNet-18's ImageNet weights" in texts(at, "markdown")
    assert "**ImageNet ResNet-18 weights** · 44.7 MB" in texts(at, "markdown")  # its download (offline: the command)
    assert not [b for b in at.button if b.label == "Train"]
    assert ui.own_data.store().dataset()[0].n_photos == 6


def test_200_photos_at_once_fill_a_class_and_say_what_was_left_out(no_weights):
    at = own_page()
    many = []
    for i in range(200):
        im = Image.new("RGB", (32, 32), (i % 256, (i * 7) % 256, (i * 13) % 256))
        im.putpixel((i % 32, i // 32), (255, 255, 255))
        many.append((f"p{i}.png", png(im)))
    add(at, "Class 1", many)
    assert "Added 100 photos to “Class 1”." in texts(at, "success")
    assert "100 of the 200 photos were not added: a class holds at most 100" in texts(at, "warning")
    assert counts(at)[0] == "**100** photos"


def test_addresses_set_the_controls_and_bad_values_get_the_plain_warning(classes_home):
    at = own_page(own_strategy="finetune", own_ep="7", own_hlr="0.003", own_blr="0.0003", own_aug="flips",
                  own_seed="3")
    assert at.radio(key="own_strategy").value == "finetune"
    assert at.slider(key="own_epochs_finetune").value == 7 and at.select_slider(key="own_blr").value == 3e-4
    assert at.selectbox(key="own_aug").value == "flips" and at.number_input(key="own_seed").value == 3
    bad = own_page(own_strategy="<b>x</b>", own_ep="1e9", own_hlr="nan", own_aug="../x", own_data="zz",
                   own_seed="-1")
    warned = texts(bad, "warning")
    assert warned.count("in the page address: it is not one of the values this control offers") == 5
    assert "<b>" not in warned
    assert bad.radio(key="own_strategy").value == "feature" and not bad.exception
    missing = own_page(own_data="0123456789abcdef")
    assert "is not on this machine" in texts(missing, "warning")


def test_backbone_rate_is_in_the_address_only_when_fine_tuning_and_kept_for_it(classes_home):
    at = own_page(own_strategy="finetune", own_blr="0.0003")
    assert at.query_params["own_blr"] == "0.0003" and at.select_slider(key="own_blr").value == 3e-4
    at.radio(key="own_strategy").set_value("feature")
    rerun(at)
    assert "own_blr" not in at.query_params and at.query_params["own_strategy"] == "feature"
    assert at.query_params["own_ep"] == "30"  # feature extraction's own epochs, not fine-tuning's
    at.radio(key="own_strategy").set_value("finetune")
    rerun(at)
    assert at.select_slider(key="own_blr").value == 3e-4 and at.query_params["own_blr"] == "0.0003"
    assert at.query_params["own_ep"] == "5" and not at.warning
    # the camera: the learner may pick it and keep it; no address turns it on
    source = here().settings["try_source"]
    assert source.offers("Camera") and not source.offers("Webcam")
    with pytest.raises(ValueError):
        source.read("Camera")


def test_a_store_that_cannot_be_written_keeps_the_page_and_says_why(no_weights, monkeypatch):
    import errno

    from core.transfer.own import store as own_store

    at = own_page()
    add(at, "Class 1", [(f"cat-{i}.png", b) for i, b in enumerate(sample_variants("chelsea", 5))])
    before = ui.own_data.store().dataset()[0]

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(own_store, "atomic_write_bytes", read_only)
    monkeypatch.setattr(own_store, "atomic_write_json", read_only)
    add(at, "Class 1", [("cup.png", sample_variants("coffee", 1)[0])])
    assert "could not be saved: the store can't be written (Read-only file system)" in texts(at, "error")
    at.text_input[0].set_value("cat")
    rerun(at)
    assert "Your classes could not be saved" in texts(at, "error") and at.text_input[0].value == "Class 1"
    at.button(key="own_add").click()
    rerun(at)
    assert ui.own_data.store().dataset()[0] == before and counts(at) == ["**5** photos", "**0** photos · needs 5 more"]
    # a hostile zip through the page: refused, nothing changed
    at.file_uploader(key="own_import").set_value(("classes.zip", b"PK\x03\x04 not a zip", "application/zip"))
    rerun(at)
    assert "Not imported: this is not a zip file" in texts(at, "error") and not at.exception
    assert ui.own_data.store().dataset()[0] == before


@pytest.mark.slow
def test_fine_tuning_trains_in_a_worker_and_shows_its_verdict(classes_home, monkeypatch):
    """Fine-tuning the last stage is submitted to the worker pool (its own, on this test's store and weights):
    the page watches, then shows the k-fold verdict of the stored run."""
    from core.runs.jobs import Jobs

    pool = Jobs(Paths(classes_home), size=1)
    monkeypatch.setattr(ui.resources, "jobs", lambda: pool)
    try:
        at = page_app("transfer", {"route": "own", "own_strategy": "finetune", "own_ep": "1"})
        name_classes(at, ["cat", "cup"])
        for name, key in (("cat", "chelsea"), ("cup", "coffee")):
            add(at, name, [(f"{key}-{i}.png", b) for i, b in enumerate(sample_variants(key, 5))])
        assert "in a training worker" in texts(at, "caption")
        button(at, "Train").click()
        rerun(at)
        assert pool.wait_all(900)
        rerun(at)
        assert not at.error, [e.value for e in at.error]
        assert any(m.value.startswith("5-fold cross-validation") for m in at.markdown)
        cfg = next(s.config for s in ui.resources.store().summaries("own-classes"))
        assert cfg.strategy == "finetune" and cfg.epochs == 1
    finally:
        pool.shutdown()
