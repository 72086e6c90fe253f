"""Training a transfer run through core.training's one loop, and the store-backed route that reuses its inputs.

Images stay uint8 on the device and each batch is resized and normalized there; frozen BatchNorm layers stay in
eval mode; feature extraction trains only the head, on stored features. `train_stored` takes the digits
pretraining run and the stored features from the store (or puts them there), as a worker does.
"""
from __future__ import annotations

import time
from pathlib import Path

import torch
from torch import nn

from core.config import default_device
from core.models.inspection import count_params
from core.optimizers import make_optimizer
from core.training.loop import Fitted, Schedule, TensorData, train_loop
from core.training.record import OnProgress, Progress, Run
from core.transfer.config import TransferConfig
from core.transfer.features import compute_features, feature_config
from core.transfer.inputs import normalization, prepare
from core.transfer.model import build_resnet18, init_weights_
from core.transfer.pretrained import load_imagenet_weights
from core.transfer.strategies import apply_strategy, frozen_norms, optimizer
from core.transfer.tasks import ImageTask, pretraining_config, task_for


# ---------------------------------------------------------------- training (through core.training's one loop)
def _schedule(cfg: TransferConfig, eval_batch: int) -> Schedule:
    return Schedule(cfg.epochs, cfg.batch_size, eval_batch)


def _blew_up(cfg: TransferConfig, done: Fitted) -> str:
    own_backbone_lr = cfg.strategy not in ("feature", "scratch")
    lrs = f"head {cfg.head_lr:g}" + (f", backbone {cfg.backbone_lr:g}" if own_backbone_lr else "")
    return done.blew_up(f"Lower the learning rates ({lrs}) and train again.") if done.diverged else ""


def fit_head(cfg: TransferConfig, feats: torch.Tensor, y: torch.Tensor, test_feats: torch.Tensor,
             y_test: torch.Tensor, num_classes: int, g: torch.Generator,
             on_progress: OnProgress | None = None, report_every: int | None = None) -> tuple[nn.Linear, Fitted]:
    """Train Linear(512, C) on stored features (N, 512) through core.training's loop; same init and optimizer as
    the full model's fc. Stored features need no input transform, and the test set goes through in big batches."""
    head = init_weights_(nn.Linear(512, num_classes, device="meta").to_empty(device="cpu"), g).to(feats.device)
    opt = make_optimizer("adam", [{"params": head.parameters(), "lr": cfg.head_lr, "name": "head (fc)"}], cfg.head_lr,
                         fused=True)
    done = train_loop(head, opt, TensorData(feats, y, test_feats, y_test, num_classes), _schedule(cfg, 4096), g,
                      on_progress=on_progress, report_every=report_every)
    return head, done


def _metrics(run_s: float, done: Fitted, device: torch.device, task: ImageTask, trainable: int,
             **extra) -> dict[str, float | str]:
    hist, per_s = done.history, done.seen / done.train_s if done.train_s > 0 else 0.0
    return {"test_loss": hist.val_loss[-1] if hist.val_loss else float("nan"),
            "test_acc": hist.val_acc[-1] if hist.val_acc else float("nan"),
            "train_s": done.train_s, "wall_s": run_s, "samples_per_s": per_s, "images_per_s": per_s,
            "device": str(device),
            "n_train": len(task.train), "n_test": len(task.test), "trainable_params": trainable, **extra}


def fit_transfer(cfg: TransferConfig, data: ImageTask, device: torch.device | None = None,
                 on_progress: OnProgress | None = None,
                 backbone: dict[str, torch.Tensor] | None = None, features: Run | None = None,
                 report_every: int | None = None) -> Run:
    """Train `cfg` on `data` through core.training's loop. `backbone`: pretrained weights (required unless
    cfg.weights == "random").

    Feature extraction returns the head's state ("fc.weight", "fc.bias"); rebuild the full model from the
    same backbone weights + that head. It trains on `features` (a `compute_features` record, e.g. from the
    store) when given, else computes them. Every other strategy trains end to end on the uint8 images resident
    on the device, each batch resized and normalized there (`prepare`), the frozen BatchNorm layers kept in eval
    mode, and returns the full state dict.
    """
    cfg.check()
    if (backbone is None) != (cfg.weights == "random"):
        raise ValueError(f"weights {cfg.weights!r} need {'no' if cfg.weights == 'random' else 'a'} backbone state")
    device = device or default_device()
    t0 = time.perf_counter()
    g = torch.Generator().manual_seed(cfg.seed)
    num_classes = len(data.classes)
    model = apply_strategy(build_resnet18(num_classes, g, backbone), cfg.strategy, cfg.k_stages).to(device)
    trainable = count_params(model, trainable_only=True)
    y_train, y_test = data.train.labels.to(device), data.test.labels.to(device)  # (N,), (M,)

    if cfg.strategy == "feature":  # fast path: the frozen backbone runs once, the head trains on stored features
        outside = features is not None  # computed before this run (the store's): its time is added to wall_s
        if features is None:
            features = compute_features(feature_config(cfg, data, "0" * 16), data, backbone, device)
        feats, test_feats = features.state["train"].to(device), features.state["test"].to(device)  # (N, 512)
        features_s = float(features.metrics.get("features_s", 0.0))  # paid once; reused from the store afterwards
        head, done = fit_head(cfg, feats, y_train, test_feats, y_test, num_classes,
                              torch.Generator().manual_seed(cfg.seed), on_progress, report_every)
        state = {f"fc.{k}": v.detach().to("cpu", copy=True) for k, v in head.state_dict().items()}
        wall_s = time.perf_counter() - t0 + (features_s if outside else 0.0)  # as if alone: backbone pass + head
        metrics = _metrics(wall_s, done, device, data, trainable, features_s=features_s)
        metrics["images_per_s"] = done.seen / (done.train_s + features_s)  # the one backbone pass included
        return Run(cfg, state, done.history, metrics, "diverged" if done.diverged else "ok", _blew_up(cfg, done))

    norm = normalization(cfg)
    images = TensorData(data.train.images.to(device), y_train, data.test.images.to(device), y_test,  # uint8
                        num_classes)  # (N, 3, 32, 32), (N,), (M, 3, 32, 32), (M,)
    done = train_loop(model, optimizer(model, cfg), images, _schedule(cfg, 256), g,
                      inputs=lambda xb: prepare(xb, cfg.resolution, norm),  # (b, 3, 32, 32) uint8 -> (b, 3, r, r)
                      keep_eval=frozen_norms(model), on_progress=on_progress, report_every=report_every)
    state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
    metrics = _metrics(time.perf_counter() - t0, done, device, data, trainable)
    return Run(cfg, state, done.history, metrics, "diverged" if done.diverged else "ok", _blew_up(cfg, done))


def _features_progress(on_progress: OnProgress | None, every_s: float = 1.0):
    """The backbone pass's images done, as a "features" Progress at most once a second (and at the end)."""
    if on_progress is None:
        return None
    t0, last = time.perf_counter(), [-every_s]

    def report(done: int, total: int) -> None:
        now = time.perf_counter() - t0
        if now - last[0] >= every_s or done == total:
            last[0] = now
            on_progress(Progress(done, total, 0, [], now, stage="features"))
    return report


def train_stored(cfg: TransferConfig, store, data_dir: Path, device: torch.device | None = None,
                 on_progress: OnProgress | None = None, digits=None) -> Run:
    """Train `cfg` with everything it starts from taken from (or put into) `store` (a core.store.RunStore):
    the digits pretraining run, and for feature extraction the backbone's stored features. The caller stores
    the returned run (`store.get_or_train(cfg, ...)`, as the worker does)."""
    from core.data.mnist import load_sample

    device = device or default_device()
    if digits is None and (cfg.source == "digits" or cfg.weights == "digits-pretrained"):
        digits = load_sample()  # decoded once for the task and the pretraining
    data = task_for(cfg, data_dir, digits)
    pre = ""
    if cfg.weights == "random":
        backbone = None
    elif cfg.weights == "imagenet":
        weights = load_imagenet_weights(allow_download=False)
        if not weights.ok:
            raise ValueError(f"{weights.reason} {weights.how_to}")
        backbone = weights.state
    else:
        pcfg = pretraining_config()
        src, _ = store.get_or_train(pcfg, lambda: fit_transfer(pcfg, task_for(pcfg, data_dir, digits), device))
        if src.status != "ok":
            raise ValueError(f"the pretraining on digits 0-4 did not finish: {src.reason}")
        backbone, pre = src.state, pcfg.key()
    features = None
    if cfg.strategy == "feature":
        fcfg = feature_config(cfg, data, pre)
        features, _ = store.get_or_train(fcfg, lambda: compute_features(fcfg, data, backbone, device,
                                                                        _features_progress(on_progress)))
    return fit_transfer(cfg, data, device, on_progress, backbone, features)
