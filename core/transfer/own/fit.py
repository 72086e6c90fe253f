"""Training ResNet-18 on the learner's own classes, scored by stratified k-fold, through core.training's one loop.

Both strategies start from the ImageNet weights and keep the part of the network that does not train frozen and in
eval mode, so that part's output for each view of each photo is computed once and reused by every fit:
- feature extraction: the backbone's (N, 512) features (kept per photo in the store: adding a photo costs one
  forward pass); the head trains on them (core.transfer.fit.fit_head);
- fine-tuning the last stage: layer3's (N, 256, 14, 14) outputs (kept in memory for the run); layer4 and the
  head train on them at their two learning rates (core.transfer.strategies.optimizer), exactly as the whole
  network would with conv1..layer3 frozen.
A run is k + 1 fits: one per fold (the fold's photos held out, every view of them: no flipped twin leaks into
training) and the final model on every photo. The run stores the final model's weights and the held-out
probabilities of every photo ("cv.probs", "cv.labels"): its accuracy, interval, per-class accuracy and
confusion matrix are read from those, never from photos it trained on.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.config import default_device
from core.data.normalization import IMAGENET_NORM
from core.models.inspection import count_params
from core.models.zoo import resnet18
from core.training.loop import Fitted, Schedule, TensorData, train_loop
from core.training.record import History, OnProgress, Progress, Run
from core.transfer.fit import fit_head
from core.transfer.inputs import prepare
from core.transfer.model import build_resnet18
from core.transfer.own.config import OwnClassesConfig
from core.transfer.own.crossval import Score, stratified_folds
from core.transfer.own.dataset import Dataset, OwnDataError
from core.transfer.own.features import fingerprint, frozen_model, stored_features, view_features
from core.transfer.own.photos import AUGMENTATIONS, SIDE, as_tensor, view
from core.transfer.own.store import OwnStore
from core.transfer.pretrained import load_imagenet_weights
from core.transfer.strategies import apply_strategy, frozen_norms, optimizer

CV_KEYS = ("cv.probs", "cv.labels")  # stored beside the weights: the held-out evidence
HEAD_STEP_S = 1e-3  # one Adam step of a Linear(512, C) head on a CPU, evaluation included (bench/NOTES.md)


@dataclass(frozen=True)
class OwnData:
    """The learner's photos as a training set: class by class, in the dataset's order."""

    images: torch.Tensor  # (N, 3, 256, 256) uint8
    labels: torch.Tensor  # (N,) int64
    classes: tuple[str, ...]
    photos: tuple[str, ...]  # each row's photo name


def own_data(ds: Dataset, photo: Callable[[str], np.ndarray | None]) -> OwnData:
    """`ds`'s photos read through `photo` (name -> (256, 256, 3) or None); OwnDataError names a missing one's class."""
    rows = ds.rows()
    pixels = []
    for name, c in rows:
        p = photo(name)
        if p is None:
            raise OwnDataError(f"A photo of “{ds.classes[c].name}” is missing or damaged on disk; open the class and "
                               "add it again.")
        pixels.append(p)
    images = as_tensor(np.stack(pixels)) if pixels else torch.empty(0, 3, 256, 256, dtype=torch.uint8)
    return OwnData(images, torch.tensor([c for _, c in rows], dtype=torch.long), ds.names,
                   tuple(n for n, _ in rows))


# ---------------------------------------------------------------- the frozen part, once per view
def stage3(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """ResNet-18 up to layer3: (B, 3, 224, 224) -> (B, 256, 14, 14), what layer4 sees."""
    x = model.maxpool(model.relu(model.bn1(model.conv1(x))))  # (B, 64, 56, 56)
    return model.layer3(model.layer2(model.layer1(x)))  # (B, 256, 14, 14)


@torch.inference_mode()
def view_stage3(model: nn.Module, images: torch.Tensor, views: tuple[str, ...], device: torch.device,
                batch: int = 16) -> dict[str, torch.Tensor]:
    """{view: (N, 256, 14, 14)} on `device`: the frozen conv1..layer3 once over each view."""
    out = {}
    for v in views:
        xs = view(images, v)
        out[v] = torch.cat([stage3(model, prepare(xs[i:i + batch].to(device), SIDE, IMAGENET_NORM))
                            for i in range(0, len(xs), batch)])
    return out


class Tail(nn.Module):
    """layer4 -> average pool -> fc of a ResNet-18 (its own modules, shared): (B, 256, 14, 14) -> (B, C)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.layer4, self.avgpool, self.fc = model.layer4, model.avgpool, model.fc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.avgpool(self.layer4(x)), 1))  # (B, 512, 7, 7) -> (B, 512) -> (B, C)


# ---------------------------------------------------------------- the run
@dataclass
class _Steps:
    """Progress over the k + 1 fits, reported as one run."""

    on_progress: OnProgress | None
    total: int
    t0: float
    done: int = 0

    def fit(self, steps: int) -> OnProgress | None:
        if self.on_progress is None:
            return None
        offset, report = self.done, self.on_progress
        self.done += steps
        return lambda p: report(Progress(offset + p.step, self.total, p.epoch, p.new_losses,
                                         time.perf_counter() - self.t0, p.val_loss, p.val_acc))


def _steps(rows: int, cfg: OwnClassesConfig) -> int:
    return math.ceil(rows / min(cfg.batch_size, rows)) * cfg.epochs


def train_own(cfg: OwnClassesConfig, data: OwnData, backbone: dict[str, torch.Tensor],
              device: torch.device | None = None, on_progress: OnProgress | None = None,
              features: dict[str, torch.Tensor] | None = None) -> Run:
    """Train `cfg` on `data` from `backbone` (ImageNet weights) with k-fold scoring. Feature extraction trains on
    `features` ({view: (N, 512)}, e.g. from the store's cache) when given, else computes them."""
    cfg.check()
    if list(data.classes) != list(cfg.names()) or len(data.labels) != cfg.n_photos:
        raise OwnDataError("These photos are not the dataset this run was set up for.")
    if fingerprint(backbone) != cfg.backbone:
        raise OwnDataError("The ImageNet weights here are not the ones this run was set up with.")
    device = device or default_device()
    t0 = time.perf_counter()
    views, C = AUGMENTATIONS[cfg.augment], len(data.classes)
    g = torch.Generator().manual_seed(cfg.seed)
    y = data.labels.to(device)
    folds = stratified_folds(data.labels, cfg.folds, g)
    everything = torch.arange(len(y))
    plan = [(torch.tensor(sorted(set(everything.tolist()) - set(f.tolist())), dtype=torch.long), f)
            for f in folds] + [(everything, everything)]  # (train rows, held-out rows): k folds, then the final
    steps = _Steps(on_progress, sum(_steps(len(tr) * len(views), cfg) for tr, _ in plan), t0)
    tcfg = cfg.transfer()

    t_frozen = time.perf_counter()
    if cfg.strategy == "feature":
        if features is None or any(v not in features for v in views):
            features = view_features(frozen_model(backbone, device), data.images, views)
        inputs = {v: features[v].to(device) for v in views}  # (N, 512) each
    else:
        inputs = view_stage3(frozen_model(backbone, device), data.images, views, device)  # (N, 256, 14, 14) each
    frozen_s = time.perf_counter() - t_frozen

    def fit(train: torch.Tensor, held: torch.Tensor) -> tuple[nn.Module, Fitted, nn.Module]:
        x_train = torch.cat([inputs[v][train.to(device)] for v in views])  # every view of the training photos
        y_train = y[train.to(device)].repeat(len(views))
        x_held, y_held = inputs["centre"][held.to(device)], y[held.to(device)]
        report = steps.fit(_steps(len(x_train), cfg))
        if cfg.strategy == "feature":
            head, done = fit_head(tcfg, x_train, y_train, x_held, y_held, C, g, report)
            return head, done, head
        model = apply_strategy(build_resnet18(C, g, backbone), "finetune", 1).to(device)
        tail = Tail(model)
        done = train_loop(tail, optimizer(model, tcfg), TensorData(x_train, y_train, x_held, y_held, C),
                          Schedule(cfg.epochs, cfg.batch_size, 64), g, keep_eval=frozen_norms(model),
                          on_progress=report)
        return tail, done, model

    probs = torch.zeros(len(y), C)
    val_loss, val_acc = np.zeros(cfg.epochs), np.zeros(cfg.epochs)
    train_s, seen, reason = 0.0, 0, ""
    for i, (train, held) in enumerate(plan):
        module, done, whole = fit(train, held)
        train_s, seen = train_s + done.train_s, seen + done.seen
        if done.diverged:
            what = f"fold {i + 1} of {len(folds)}" if i < len(folds) else "the final model"
            lrs = f"head {cfg.head_lr:g}" + (f", layer4 {cfg.backbone_lr:g}" if cfg.strategy == "finetune" else "")
            reason = done.blew_up(f"({what}) Lower the learning rates ({lrs}) and train again.")
            break
        if i < len(folds):  # a fold: its model's verdict on the photos it never saw, and its held-out curve
            with torch.inference_mode():
                probs[held] = F.softmax(module(inputs["centre"][held.to(device)]), 1).float().cpu()
            val_loss += np.asarray(done.history.val_loss) * len(held) / len(y)
            val_acc += np.asarray(done.history.val_acc) * len(held) / len(y)
    if cfg.strategy == "feature":  # the head alone: Linear's weight and bias, named as the model's fc
        final_state = {f"fc.{k}": v.detach().to("cpu", copy=True) for k, v in whole.state_dict().items()}
    else:
        final_state = {k: v.detach().to("cpu", copy=True) for k, v in whole.state_dict().items()
                       if k.startswith(("fc.", "layer4."))}
    score = Score(probs, data.labels.clone())
    held_loss = float(F.nll_loss(torch.log(probs.clamp_min(1e-12)), data.labels)) if not reason else float("nan")
    history = History(done.history.step_loss, done.history.steps_per_epoch,
                      [float(v) for v in val_loss], [float(v) for v in val_acc])
    metrics = {"test_acc": score.accuracy, "test_loss": held_loss, "train_s": train_s,
               "wall_s": time.perf_counter() - t0, "samples_per_s": seen / train_s if train_s > 0 else 0.0,
               "device": str(device), "n_train": len(y), "n_test": len(y),
               "trainable_params": count_params(whole, trainable_only=True)}
    if cfg.strategy == "feature":
        metrics["features_s"] = frozen_s
    state = {**final_state, "cv.probs": probs, "cv.labels": data.labels.clone()}
    return Run(cfg, state, history, metrics, "diverged" if reason else "ok", reason)


def expected_state(cfg: OwnClassesConfig) -> dict[str, torch.Tensor]:
    """Names, shapes and dtypes (meta tensors) of what a run stores: the head (feature extraction) or layer4 and
    the head (fine-tuning), and the held-out probabilities and labels of its n_photos photos."""
    C = len(cfg.names())
    with torch.device("meta"):
        state = resnet18((3, SIDE, SIDE), max(C, 1)).state_dict()
        kept = {k: v for k, v in state.items()
                if k.startswith("fc.") or (cfg.strategy == "finetune" and k.startswith("layer4."))}
        return {**kept, "cv.probs": torch.empty(cfg.n_photos, C), "cv.labels": torch.empty(cfg.n_photos,
                                                                                          dtype=torch.long)}


def score_of(run: Run) -> Score:
    return Score(run.state["cv.probs"], run.state["cv.labels"])


def own_model(run: Run, backbone: dict[str, torch.Tensor]) -> nn.Module:
    """The eval-mode, frozen ResNet-18 a run describes: the ImageNet backbone with the run's layer4 and head."""
    cfg = run.config
    model = build_resnet18(len(cfg.names()), torch.Generator().manual_seed(0), backbone)
    weights = {k: v for k, v in run.state.items() if k not in CV_KEYS}
    missing, unexpected = model.load_state_dict(weights, strict=False)
    if unexpected or any(k.startswith("fc.") for k in missing):
        raise ValueError(f"incompatible run weights ({len(unexpected)} unexpected)")
    return model.requires_grad_(False).eval()


@torch.inference_mode()
def probabilities(model: nn.Module, photos: torch.Tensor) -> torch.Tensor:
    """(N, C) class probabilities of kept photos (N, 3, 256, 256) uint8: the model on their centre 224×224."""
    device = next(model.parameters()).device
    x = prepare(view(photos, "centre").to(device), SIDE, IMAGENET_NORM)  # (N, 3, 224, 224)
    return F.softmax(model(x), 1).float().cpu()


@torch.inference_mode()
def head_probabilities(head_state: dict[str, torch.Tensor], features: torch.Tensor) -> torch.Tensor:
    """(N, C) probabilities of a feature-extraction run's head on stored (N, 512) features (no backbone pass)."""
    return F.softmax(F.linear(features.float(), head_state["fc.weight"], head_state["fc.bias"]), 1)


def train_saved(cfg: OwnClassesConfig, store: OwnStore, device: torch.device | None = None,
                on_progress: OnProgress | None = None) -> Run:
    """Train `cfg` from what is on disk, as a worker does: its saved set's photos from `store`, the ImageNet
    weights from torch hub's cache, and (feature extraction) the features cached in `store`. OwnDataError or
    ValueError in plain words when a piece is missing."""
    saved = store.saved_set(cfg.dataset)
    if saved is None:
        raise OwnDataError("The photos this run trains on are not on this machine (its saved set is missing): import "
                           "the dataset first.")
    weights = load_imagenet_weights(allow_download=False)
    if not weights.ok:
        raise ValueError(f"{weights.reason} {weights.how_to}")
    device = device or default_device()
    data = own_data(saved.dataset, store.photo)
    features = None
    if cfg.strategy == "feature":
        t = time.perf_counter()
        features, _ = stored_features(store, cfg.backbone, frozen_model(weights.state, device), data.images,
                                      data.photos, AUGMENTATIONS[cfg.augment])
        features_s = time.perf_counter() - t  # only the features not cached yet were computed
        run = train_own(cfg, data, weights.state, device, on_progress, features)
        run.metrics["features_s"] = features_s
        run.metrics["wall_s"] += features_s
        return run
    return train_own(cfg, data, weights.state, device, on_progress)


def time_per_photo(frozen: nn.Module, num_classes: int = 3, batch: int = 4) -> tuple[float, float]:
    """(seconds of one view of one photo through the frozen backbone, seconds of one layer4 + head training step
    per photo), timed after a warm-up; the training step on a private copy (the shared model is untouched)."""
    import copy

    device = next(frozen.parameters()).device
    x = torch.randint(0, 256, (batch, 3, 256, 256), dtype=torch.uint8)
    g = torch.Generator().manual_seed(0)

    def timed(fn: Callable[[], object]) -> float:
        fn()  # warm-up: allocator, kernels, optimizer state
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return (time.perf_counter() - t) / batch

    forward = timed(lambda: view_features(frozen, x, ("centre",)))
    model = apply_strategy(copy.deepcopy(frozen).to(memory_format=torch.contiguous_format), "finetune", 1)
    model.fc = nn.Linear(512, num_classes).to(device)
    tail = Tail(model).train()
    acts = torch.randn(batch, 256, 14, 14, generator=g).to(device)
    y = torch.arange(batch, device=device) % num_classes
    opt = torch.optim.Adam([p for p in tail.parameters() if p.requires_grad], 1e-4)

    def step() -> None:
        loss = F.cross_entropy(tail(acts), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return forward, timed(step)


def estimate_seconds(cfg: OwnClassesConfig, missing_features: int, per_photo: tuple[float, float]) -> float:
    """Wall time of a run: feature extraction = the features not cached yet (heads train in about a second);
    fine-tuning = layer3 once over every view of every photo, then k + 1 fits of layer4 and the head (the k folds
    together train on every photo k - 1 times per epoch, the final model once)."""
    forward, step = per_photo
    rows = cfg.n_photos * len(AUGMENTATIONS[cfg.augment])
    if cfg.strategy == "feature":
        return missing_features * forward + (cfg.folds + 1) * _steps(rows, cfg) * HEAD_STEP_S
    return rows * forward * 0.75 + cfg.epochs * rows * cfg.folds * step
