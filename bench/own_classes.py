"""Own-classes rows (`python -m bench --only own`): the Transfer page's route "Your own classes", timed on this
machine's device with an ImageNet-shaped ResNet-18 (random values: the times do not depend on them) and
scikit-image's sample photos as three classes.

- the feature pass per photo at 224 px: the one forward pass adding a photo costs (batch 1, as on arrival);
- adding one photo to a 3-class, 30-photo set and training again, from the click to new predictions, as the page
  does it in its own process: decode and frame the upload, keep it, its feature (one pass), every photo read back
  and checked, the cached features, k + 1 heads (5 folds and the final one), the run stored, the learner's model
  built, a new photo's probabilities. Target: under 2 s on a CPU;
- the same training with every feature computed again (what the stored-feature path saves), side by side;
- fine-tuning the last stage: one layer4 + head step per photo, and the estimate of a 30-photo, 5-epoch run.
"""
from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from bench.timing import row
from core.runs.store import RunStore
from core.transfer.own import dataset as own
from core.transfer.own.config import config_for
from core.transfer.own.features import fingerprint, frozen_model, stored_features, view_features
from core.transfer.own.fit import estimate_seconds, own_data, own_model, probabilities, time_per_photo, train_own
from core.transfer.own.photos import as_tensor, from_upload
from core.transfer.own.store import OwnStore
from tools.own_photos import OWN_SAMPLES, fake_imagenet_state, sample_variants


def _three_classes(store: OwnStore, per_class: int) -> own.Dataset:
    ds = own.Dataset(())
    for name, key in OWN_SAMPLES.items():
        ds = own.add_class(ds, name)
        photos = [store.put_photo(from_upload(b)[0]) for b in sample_variants(key, per_class)]
        ds, _ = own.add_photos(ds, ds.classes[-1].id, photos)
    return store.edit(lambda _: ds)


def rows(device: torch.device, quick: bool) -> list[dict]:
    out = []
    root = Path(tempfile.mkdtemp(prefix="ptce-bench-own-"))
    store, runs = OwnStore(root / "own"), RunStore(root / "runs")
    state = fake_imagenet_state()
    fp = fingerprint(state)
    frozen = frozen_model(state, device)
    ds = _three_classes(store, 10)  # 3 classes × 10 photos
    data = own_data(ds, store.photo)
    stored_features(store, fp, frozen, data.images, data.photos, ("centre",))  # the 30 photos' features, once

    one = as_tensor(data.images[:1].permute(0, 2, 3, 1).numpy())
    view_features(frozen, one, ("centre",))  # warm-up
    passes = [time.perf_counter()]
    for _ in range(3 if quick else 10):
        view_features(frozen, one, ("centre",))
        passes.append(time.perf_counter())
    per_photo = statistics.median(np.diff(passes))
    out.append(row("Own classes: feature pass per photo at 224 px (batch 1, as a photo arrives)", 1000 * per_photo,
                   "ms/photo", note="ResNet-18 to the average pool, inference mode, channels-last on a CPU"))

    extra = sample_variants("chelsea", 16)[10:]  # photos the 30 do not hold
    train_own(config_for(ds, fp), data, state, device)  # warm-up: the loop's and Adam's first calls
    clicks, heads, again = [], [], []
    for i, upload in enumerate(extra[: 2 if quick else 5]):
        t0 = time.perf_counter()
        photo, _ = from_upload(upload)  # the click: the upload arrives
        name = store.put_photo(photo)
        cat = ds.classes[0].id
        ds = store.edit(lambda d, n=name, c=cat: own.add_photos(d, c, [n])[0])
        stored_features(store, fp, frozen, as_tensor(photo[None]), (name,), ("centre",))  # its one pass
        store.save_set(ds)
        now = own_data(ds, store.photo)  # Train: every photo read back and checked
        feats, made = stored_features(store, fp, frozen, now.images, now.photos, ("centre",))
        assert made == 0
        cfg = config_for(ds, fp, epochs=30, head_lr=1e-2, seed=i)
        t_heads = time.perf_counter()
        run = train_own(cfg, now, state, device, features=feats)
        heads.append(time.perf_counter() - t_heads)
        runs.save(run)
        model = own_model(run, state).to(device)
        probabilities(model, as_tensor(photo[None]))  # new predictions
        clicks.append(time.perf_counter() - t0)
        t_all = time.perf_counter()
        train_own(cfg, now, state, device)  # the same training, every feature computed again
        again.append(time.perf_counter() - t_all)
    click, head, redo = statistics.median(clicks), statistics.median(heads), statistics.median(again)
    n = ds.n_photos
    out.append(row(f"Own classes: add one photo to a 3-class set and train again, click to new predictions "
                   f"(30 photos, then one more each time up to {n})", click, "s", target="< 2 s on a CPU",
                   note=f"median of {len(clicks)}; of which 5 folds + the final head: {head:.2f} s"))
    out.append(row(f"Own classes: training on cached features vs computing every feature again ({n} photos)", head,
                   "s", baseline=round(redo, 4), ratio=round(redo / head, 1)))
    forward, step = time_per_photo(frozen)
    tune = config_for(ds, fp, strategy="finetune", epochs=5)
    out.append(row("Own classes: fine-tuning layer4 + head, one training step per photo", 1000 * step, "ms/photo"))
    out.append(row(f"Own classes: fine-tuning estimate, {n} photos, 5 epochs, 5 folds + final", estimate_seconds(
        tune, 0, (forward, step)), "s", note="trained in a worker process; the page shows this before Train"))
    return out
