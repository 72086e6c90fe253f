"""core.transfer.own: the learner's photos kept once by content, the classes edited by pure functions that refuse
with a sentence and change nothing, the store's hostile-file handling, the dataset zip, k-fold scoring and training
from a test-made ImageNet-shaped ResNet-18 (random values, real keys) on scikit-image's sample photos."""
from __future__ import annotations

import io
import json
import os
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from core.data.model_inputs import model_view
from core.data.uploads import UploadError
from core.runs.archive import export_run, import_run
from core.runs.kinds import KINDS
from core.runs.store import RunStore
from core.transfer.own import dataset as D
from core.transfer.own.archive import DatasetArchiveError, export_dataset, import_dataset, read_dataset
from core.transfer.own.config import OwnClassesConfig, address, config_for
from core.transfer.own.crossval import Score, stratified_folds, verdict, wilson
from core.transfer.own.features import fingerprint, frozen_model, stored_features
from core.transfer.own.fit import expected_state, own_data, own_model, probabilities, score_of, train_own
from core.transfer.own.photos import AUGMENTATIONS, as_tensor, framed, from_upload, photo_name, view
from core.transfer.own.store import OwnStore
from support import OWN_SAMPLES, fake_imagenet_state, sample_variants, state_equal

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def backbone() -> dict[str, torch.Tensor]:
    return fake_imagenet_state()


@pytest.fixture(scope="module")
def shots() -> dict[str, list[np.ndarray]]:
    """{class: six kept photos} from three scikit-image samples (the photo, its mirror image, crops)."""
    return {c: [from_upload(b)[0] for b in sample_variants(k, 6)] for c, k in OWN_SAMPLES.items()}


def three_classes(store: OwnStore, shots, per_class: int = 6) -> D.Dataset:
    def build(ds: D.Dataset) -> D.Dataset:
        ds = D.Dataset(())
        for name, photos in shots.items():
            ds = D.add_class(ds, name)
            ds, notes = D.add_photos(ds, ds.classes[-1].id, [store.put_photo(p) for p in photos[:per_class]])
            assert notes == []
        return ds

    return store.edit(build)


# ---------------------------------------------------------------- photos
@pytest.mark.parametrize("shape", [(300, 400, 3), (401, 257, 3), (1000, 1333, 3), (256, 256, 3), (257, 300),
                                   (100, 100, 3)])
def test_a_kept_photo_is_what_the_model_and_the_saliency_page_see(shape):
    raw = np.random.default_rng(sum(shape)).integers(0, 256, shape, dtype=np.uint8)
    kept = framed(raw)
    assert kept.shape == (256, 256, 3)
    rgb = raw if raw.ndim == 3 else np.repeat(raw[..., None], 3, -1)
    centre = view(as_tensor(kept[None]), "centre")[0].permute(1, 2, 0).numpy()
    assert np.array_equal(centre, model_view(rgb, 224))  # the model's input = the ImageNet recipe on the original
    assert np.array_equal(model_view(kept, 224), centre)  # and the Saliency page's recipe on the kept photo


def test_views_are_windows_and_mirrors_of_the_kept_photo():
    x = torch.arange(3 * 256 * 256, dtype=torch.int32).view(1, 3, 256, 256)
    assert torch.equal(view(x, "flip"), view(x, "centre").flip(-1))
    assert torch.equal(view(x, "top-left"), x[..., :224, :224]) and torch.equal(view(x, "bottom-right"),
                                                                                 x[..., 32:, 32:])
    assert all(v[0] == "centre" for v in AUGMENTATIONS.values())


def test_an_upload_is_validated_by_content():
    with pytest.raises(UploadError, match="not an image"):
        from_upload(b"<html>not a photo</html>")
    with pytest.raises(UploadError, match="empty"):
        from_upload(b"")
    buf = io.BytesIO()
    Image.new("L", (40, 30), 200).save(buf, format="PNG")
    kept, _ = from_upload(buf.getvalue())
    assert kept.shape == (256, 256, 3) and (kept == 200).all()  # gray becomes RGB


# ---------------------------------------------------------------- the classes, edited
def test_edits_refuse_with_a_sentence_and_change_nothing():
    ds = D.starting()
    assert ds.names == ("Class 1", "Class 2")
    a, b = (c.id for c in ds.classes)
    with pytest.raises(D.OwnDataError, match="already"):
        D.rename(ds, b, " class 1 ")  # the same name, in other case and spacing
    for bad in ("<b>cat</b>", "www.example.org", "http://x", "me@example.org", "cat_1", "[cat](x)"):
        with pytest.raises(D.OwnDataError, match="letters, digits"):
            D.rename(ds, a, bad)  # no markup, and nothing markdown could make a link of
    with pytest.raises(D.OwnDataError, match="needs a name"):
        D.rename(ds, a, "   ")
    with pytest.raises(D.OwnDataError, match="at most 40"):
        D.rename(ds, a, "x" * 41)
    ds = D.rename(ds, a, "Chat noir (l'autre)")
    assert ds.names == ("Chat noir (l'autre)", "Class 2")
    for _ in range(8):
        ds = D.add_class(ds)
    with pytest.raises(D.OwnDataError, match="at most 10 classes"):
        D.add_class(ds)
    assert len(ds.names) == 10 == len(set(ds.names))
    ds = D.remove_class(ds, b)
    assert "Class 2" not in ds.names and len(ds.classes) == 9
    with pytest.raises(D.OwnDataError, match="gone"):
        D.remove_photo(ds, b, "0" * 64)


def test_the_same_photo_is_kept_once_and_teaches_one_class():
    ds = D.starting()
    a, b = (c.id for c in ds.classes)
    p1, p2 = "1" * 64, "2" * 64
    ds, notes = D.add_photos(ds, a, [p1, p1, p2])
    assert ds.classes[0].photos == (p1, p2) and notes == ["one photo is in “Class 1” already (the same picture "
                                                          "is kept once)"]
    ds2, notes = D.add_photos(ds, b, [p2])
    assert ds2 == ds and "can teach one class only" in notes[0]


def test_problems_name_every_class_that_cannot_train_yet():
    ds = D.starting()
    a, b = (c.id for c in ds.classes)
    ds, _ = D.add_photos(ds, a, [f"{i:064x}" for i in range(3)])
    problems = ds.problems()
    assert "“Class 1” has 3 photos: each class needs at least 5 (2 more)." in problems
    assert "“Class 2” has no photos yet: give it at least 5." in problems
    assert D.Dataset(ds.classes[:1]).problems()[0].startswith("Add a class")
    ds, _ = D.add_photos(ds, a, [f"{i:064x}" for i in range(3, 5)])
    ds, _ = D.add_photos(ds, b, [f"{i:064x}" for i in range(5, 10)])
    assert ds.problems() == []


def test_limits_on_photos_are_sentences():
    ds = D.starting()
    a = ds.classes[0].id
    ds, notes = D.add_photos(ds, a, [f"{i:064x}" for i in range(D.MAX_PHOTOS_PER_CLASS + 100)])
    assert len(ds.classes[0].photos) == D.MAX_PHOTOS_PER_CLASS and len(notes) == 100
    assert all("is full (100 photos a class at most)" in n for n in notes)


@pytest.mark.parametrize("bad", [None, [], {"format": 2, "classes": []}, {"format": 1, "classes": "x"},
                                 {"format": 1, "classes": [{"id": "zz", "name": "a", "photos": []}]},
                                 {"format": 1, "classes": [{"id": "0" * 8, "name": "<a>", "photos": []}]},
                                 {"format": 1, "classes": [{"id": "0" * 8, "name": "a", "photos": ["../x"]}]},
                                 {"format": 1, "classes": [{"id": "0" * 8, "name": "a", "photos": []},
                                                           {"id": "1" * 8, "name": "A", "photos": []}]},
                                 {"format": 1, "classes": [{"id": "0" * 8, "name": "a", "photos": ["1" * 64]},
                                                           {"id": "1" * 8, "name": "b", "photos": ["1" * 64]}]}])
def test_a_dataset_file_is_read_as_hostile(bad):
    with pytest.raises(D.OwnDataError):
        D.Dataset.from_dict(bad)


# ---------------------------------------------------------------- the store
def test_photos_are_stored_once_and_verified_on_reading(tmp_path, shots):
    store = OwnStore(tmp_path)
    photo = shots["cat"][0]
    name = store.put_photo(photo)
    assert name == photo_name(photo) and store.put_photo(photo) == name
    assert len(list((tmp_path / "photos").iterdir())) == 1
    assert np.array_equal(store.photo(name), photo)
    other = shots["cup"][0]
    (tmp_path / "photos" / f"{name}.png").write_bytes(Image.fromarray(other).tobytes()[:100])
    assert store.photo(name) is None  # damaged: not used
    buf = io.BytesIO()
    Image.fromarray(other).save(buf, format="PNG")
    (tmp_path / "photos" / f"{name}.png").write_bytes(buf.getvalue())
    assert store.photo(name) is None  # a valid PNG under another photo's name: not used


def test_the_working_dataset_survives_a_restart_and_damage_is_repaired_with_a_sentence(tmp_path, shots):
    store = OwnStore(tmp_path)
    ds = three_classes(store, shots)
    again, notes = OwnStore(tmp_path).dataset()
    assert again == ds and notes == []
    (tmp_path / "photos" / f"{ds.classes[1].photos[0]}.png").unlink()
    again, notes = store.dataset()
    assert len(again.classes[1].photos) == 5 and notes == ["1 photo of “cup” is no longer on disk and left the class."]
    (tmp_path / "dataset.json").write_text("[]")
    again, notes = store.dataset()
    assert again.names == ("Class 1", "Class 2") and "set aside" in notes[0]
    assert list(tmp_path.glob("dataset.corrupt-*.json"))


def test_an_edit_that_is_refused_writes_nothing(tmp_path, shots):
    store = OwnStore(tmp_path)
    ds = three_classes(store, shots)
    before = (tmp_path / "dataset.json").read_bytes()
    with pytest.raises(D.OwnDataError):
        store.edit(lambda d: D.rename(d, d.classes[0].id, d.classes[1].name))
    assert (tmp_path / "dataset.json").read_bytes() == before and store.dataset()[0] == ds


def test_replacing_the_working_set_keeps_the_old_one_as_a_saved_set(tmp_path, shots):
    store = OwnStore(tmp_path)
    ds = three_classes(store, shots)
    store.replace(D.starting())
    saved = store.saved_sets()
    assert [s.dataset for s in saved] == [ds] and store.saved_set(ds.digest()).dataset == ds
    (tmp_path / "sets" / f"{ds.digest()}.json").write_text(json.dumps({"saved": 1e300, "dataset": ds.to_dict()}))
    assert store.saved_sets() == [] and store.saved_set(ds.digest()) is None  # a date no page can show: skipped
    assert store.saved_set("../../etc") is None


def test_read_only_store_says_why(tmp_path, shots):
    if os.geteuid() == 0:
        pytest.skip("root writes anywhere")
    store = OwnStore(tmp_path)
    ds = three_classes(store, shots)
    for p in (tmp_path, tmp_path / "photos"):
        p.chmod(0o555)
    try:
        with pytest.raises(OSError):
            store.put_photo(shots["cat"][5][::-1].copy())
        assert store.dataset()[0] == ds  # still readable
    finally:
        for p in (tmp_path, tmp_path / "photos"):
            p.chmod(0o755)


# ---------------------------------------------------------------- the dataset zip
def test_export_import_round_trip(tmp_path, shots):
    store = OwnStore(tmp_path / "a")
    ds = three_classes(store, shots)
    blob = export_dataset(store, ds)
    assert export_dataset(store, ds) == blob  # same classes, same bytes
    other = OwnStore(tmp_path / "b")
    back = import_dataset(other, blob)
    assert back == ds and other.dataset()[0] == ds
    assert all(np.array_equal(other.photo(p), store.photo(p)) for p, _ in ds.rows())


def _zip(entries: dict[str, bytes], compress=zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data, compress_type=compress)
    return buf.getvalue()


def test_a_hostile_dataset_zip_is_refused_before_decompressing(tmp_path, shots):
    store = OwnStore(tmp_path / "a")
    ds = three_classes(store, shots, per_class=5)
    good = zipfile.ZipFile(io.BytesIO(export_dataset(store, ds)))
    entries = {i.filename: good.read(i) for i in good.infolist()}
    photo = next(n for n in entries if n.startswith("photos/"))
    cases = {
        "not a zip": b"PK\x03\x04 nope",
        "unexpected entry": _zip({**entries, "../evil.png": b"x"}),
        "unexpected entry 2": _zip({**entries, "photos/readme.txt": b"x"}),
        "missing": _zip({k: v for k, v in entries.items() if k != photo}),
        "not in any class": _zip({**entries, f"photos/{'f' * 64}.png": entries[photo]}),
        "zip bomb": _zip({**entries, "dataset.json": b"{" + b" " * (1 << 19) + b"}"}, zipfile.ZIP_DEFLATED),
        "not a photo kept": _zip({**entries, photo: entries[next(n for n in entries if n.startswith("photos/")
                                                                 and n != photo)]}),
        "dataset.json missing": _zip({k: v for k, v in entries.items() if k != "dataset.json"}),
        "not a valid dataset": _zip({**entries, "dataset.json": b'{"format": 1, "classes": [1]}'}),
    }
    other = OwnStore(tmp_path / "b")
    for why, blob in cases.items():
        with pytest.raises(DatasetArchiveError) as e:
            import_dataset(other, blob)
        assert e.value.args[0], why
    assert not (tmp_path / "b" / "dataset.json").exists()  # nothing changed
    truncated = export_dataset(store, ds)[:-200]
    with pytest.raises(DatasetArchiveError):
        read_dataset(truncated)
    many = _zip({f"photos/{i:064x}.png": b"" for i in range(302)})
    with pytest.raises(DatasetArchiveError, match="302 entries"):
        read_dataset(many)


# ---------------------------------------------------------------- k-fold
def test_stratified_folds_hold_out_every_photo_once_and_spread_each_class():
    labels = torch.tensor([0] * 5 + [1] * 7 + [2] * 11)
    folds = stratified_folds(labels, 5, torch.Generator().manual_seed(0))
    assert sorted(torch.cat(folds).tolist()) == list(range(len(labels)))
    for f in folds:
        assert set(labels[f].tolist()) == {0, 1, 2}  # every class in every fold (each has >= 5 photos)
    assert max(map(len, folds)) - min(map(len, folds)) <= 1


def test_wilson_interval():
    lo, hi = wilson(27, 30)
    assert (round(lo, 3), round(hi, 3)) == (0.744, 0.965)
    assert wilson(30, 30)[1] == 1.0 and wilson(30, 30)[0] < 1.0 and wilson(0, 10)[0] == 0.0
    score = Score(torch.eye(3)[[0, 1, 2, 0, 0, 1]], torch.tensor([0, 1, 2, 0, 1, 1]))
    assert score.correct == 5 and score.per_class(3) == [(2, 2), (2, 3), (1, 1)]
    assert score.confusion(3).tolist() == [[2, 0, 0], [1, 2, 0], [0, 0, 1]]
    assert "interval 44–97%). The interval is wide" in verdict(score, 3, 5)  # 6 photos
    worse = Score(torch.eye(3)[[0, 0, 0, 0, 0, 1]], torch.tensor([0, 1, 2, 0, 1, 1]))
    assert "reaches chance (33%)" in verdict(worse, 3, 5)


# ---------------------------------------------------------------- training
def test_config_is_checked_and_opens_its_page():
    cfg = OwnClassesConfig("0" * 16, '["cat", "cup"]', 10, "1" * 16, augment="flips")
    assert OwnClassesConfig.from_dict(cfg.to_dict()) == cfg
    assert address(cfg) == {"route": "own", "own_data": "0" * 16, "own_strategy": "feature", "own_aug": "flips",
                            "own_ep": "30", "own_hlr": "0.001", "own_seed": "0"}
    assert KINDS["own-classes"].link(cfg) == ("transfer", address(cfg))
    for bad in ({"classes": '["cat", "Cat"]'}, {"classes": '["cat"]'}, {"classes": "not json"},
                {"classes": '["<b>", "a"]'}, {"n_photos": 9}, {"augment": "rotate"}, {"head_lr": float("nan")},
                {"dataset": "../x"}, {"strategy": "full"}):
        with pytest.raises(ValueError):
            OwnClassesConfig.from_dict({**cfg.to_dict(), **bad})


def test_features_are_computed_once_per_photo_and_view(tmp_path, shots, backbone):
    store = OwnStore(tmp_path)
    ds = three_classes(store, shots, per_class=5)
    data = own_data(ds, store.photo)
    model, fp = frozen_model(backbone, CPU), fingerprint(backbone)
    feats, made = stored_features(store, fp, model, data.images[:4], data.photos[:4], ("centre",))
    assert made == 4 and feats["centre"].shape == (4, 512) and torch.isfinite(feats["centre"]).all()
    again, made = stored_features(store, fp, model, data.images[:5], data.photos[:5], ("centre", "flip"))
    assert made == 1 + 5  # the new photo's centre view, and every photo's flip
    torch.testing.assert_close(again["centre"][:4], feats["centre"])
    # a damaged cache file is a miss, computed again
    (tmp_path / "features" / fp / f"{data.photos[0]}.safetensors").write_bytes(b"junk")
    _, made = stored_features(store, fp, model, data.images[:5], data.photos[:5], ("centre", "flip"))
    assert made == 2


def test_feature_extraction_trains_scores_by_k_fold_and_stores_like_any_run(tmp_path, shots, backbone):
    store = OwnStore(tmp_path / "own")
    ds = three_classes(store, shots)
    data = own_data(ds, store.photo)
    cfg = config_for(ds, fingerprint(backbone), augment="flips", epochs=20, head_lr=1e-2)
    reports = []
    run = train_own(cfg, data, backbone, CPU, reports.append)
    assert run.status == "ok" and reports[-1].step == reports[-1].total_steps
    assert set(run.state) == {"fc.weight", "fc.bias", "cv.probs", "cv.labels"}
    assert run.state["fc.weight"].shape == (3, 512) and run.metrics["n_test"] == 18
    score = score_of(run)
    assert run.metrics["test_acc"] == pytest.approx(score.accuracy) == pytest.approx(run.history.val_acc[-1])
    assert score.accuracy > 1 / 3  # three very different photos: even random features tell them apart
    # the model is the backbone + the head; it answers for a photo at once
    model = own_model(run, backbone)
    probs = probabilities(model, data.images[:2])
    assert probs.shape == (2, 3) and torch.allclose(probs.sum(1), torch.ones(2))
    # stored, exported and imported like any run
    runs = RunStore(tmp_path / "runs")
    runs.save(run)
    loaded = runs.load(cfg)
    assert loaded is not None and state_equal(loaded.state, run.state)
    other = RunStore(tmp_path / "other")
    assert state_equal(import_run(other, export_run(loaded, 1.7e9)).state, run.state)
    assert expected_state(cfg).keys() == run.state.keys()
    # the same settings replay exactly
    torch.testing.assert_close(train_own(cfg, data, backbone, CPU).state["cv.probs"], run.state["cv.probs"])


def test_other_weights_or_photos_are_refused(tmp_path, shots, backbone):
    store = OwnStore(tmp_path)
    ds = three_classes(store, shots, per_class=5)
    data = own_data(ds, store.photo)
    cfg = config_for(ds, "0" * 16)
    with pytest.raises(D.OwnDataError, match="ImageNet weights here are not"):
        train_own(cfg, data, backbone, CPU)
    (tmp_path / "photos" / f"{ds.classes[0].photos[0]}.png").unlink()
    with pytest.raises(D.OwnDataError, match="missing or damaged"):
        own_data(ds, store.photo)


@pytest.mark.slow
def test_fine_tuning_the_last_stage_trains_layer4_and_the_head(tmp_path, shots, backbone):
    store = OwnStore(tmp_path)
    ds = three_classes(store, shots, per_class=5)
    cfg = config_for(ds, fingerprint(backbone), strategy="finetune", epochs=1, batch_size=8)
    run = train_own(cfg, own_data(ds, store.photo), backbone, CPU)
    assert run.status == "ok"
    changed = [k for k in run.state if k.startswith("layer4.") and k.endswith("conv1.weight")]
    assert changed and not torch.equal(run.state[changed[0]], backbone[changed[0]])
    assert run.state.keys() == expected_state(cfg).keys()
    assert run.metrics["trainable_params"] == 8_393_728 + 3 * 512 + 3
    own_model(run, backbone)  # loads
