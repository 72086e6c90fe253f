"""After training on the Transfer page: the trained model evaluated (confusion matrix, predictions, gradient norms,
conv1 filters before and after) and the stored runs compared (one result per setting, the run table). Models built
for evaluation are private to the cache and never trained in place.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import streamlit as st
import torch

from core.models.inspection import confusion_matrix
from core.runs.store import RunSummary
from core.transfer.config import TransferConfig
from core.transfer.model import build_resnet18, model_of, predict
from core.transfer.report import RunResult, first_filters, wilson
from core.transfer.strategies import LayerGrad, gradient_norms
from ui import resources
from ui.transfer_data import task_of
from ui.transfer_runs import backbone, test_predictions_from_features, trained


@dataclass(frozen=True)
class Evaluation:
    cm: np.ndarray  # (C, C) true x predicted on the test set
    images: np.ndarray  # (16, 32, 32) gray test images
    titles: list[str]  # "pred cat / true dog"
    grads: list[LayerGrad]
    before: np.ndarray  # (16, 7, 7) conv1 filters at the start
    after: np.ndarray  # after training


@st.cache_data(max_entries=16, show_spinner="Evaluating the trained model…")
def evaluation(cfg: TransferConfig) -> Evaluation:
    run = trained(cfg)
    if run is None:
        raise LookupError(cfg.key())
    data, start = task_of(cfg), backbone(cfg)
    model = model_of(run, len(data.classes), start).to(resources.device())
    pred = test_predictions_from_features(cfg)
    if pred is None:
        pred = predict(model, data.test.images, cfg)
    cm = confusion_matrix(data.test.labels, pred, len(data.classes))
    names = data.classes
    pick = torch.linspace(0, len(data.test) - 1, min(16, len(data.test))).long()  # spread over every class
    shown = data.test.images[pick]
    grads = gradient_norms(model, cfg, data.train.images[:16], data.train.labels[:16])
    init = start if start is not None else build_resnet18(len(names),
                                                          torch.Generator().manual_seed(cfg.seed)).state_dict()
    return Evaluation(cm.numpy(), shown.float().mean(1).numpy(),
                      [f"{names[p]}<br>(true {names[t]})" for p, t in zip(pred[pick].tolist(),
                                                                        data.test.labels[pick].tolist())],
                      grads, first_filters(init).numpy(), first_filters(model.state_dict()).cpu().numpy())


def _settings(cfg: TransferConfig) -> dict[str, str]:
    """What a run was trained with besides its strategy (the backbone's rate only where it has a group)."""
    out = {"head learning rate": f"{cfg.head_lr:g}", "epochs": str(cfg.epochs)}
    if cfg.strategy in ("finetune", "full"):
        out["backbone learning rate"] = f"{cfg.backbone_lr:g}"
    return out


def results(runs: list[RunSummary]) -> list[RunResult]:
    """One result per setting: runs that differ only in their seed are averaged (the conclusion counts their test
    images once per seed and states their spread)."""
    groups: dict[str, list[RunSummary]] = {}
    for r in runs:
        groups.setdefault(replace(r.config, seed=0).key(), []).append(r)
    out = []
    for same in groups.values():
        cfg, accs = same[0].config, [float(r.metrics["test_acc"]) for r in same]
        label = short_label(cfg) if len(same) == 1 else short_label(replace(cfg, seed=0)).replace(
            ")", f", {len(same)} seeds)")
        out.append(RunResult(label, cfg.strategy, sum(accs) / len(accs),
                             sum(float(r.metrics["wall_s"]) for r in same) / len(same),
                             same[0].metrics.get("trainable_params"), int(same[0].metrics["n_test"]), _settings(cfg),
                             len(same), max(accs) - min(accs),
                             any(int(r.metrics.get("concurrent_runs", 1)) > 1 for r in same)))
    return out


def short_label(cfg: TransferConfig) -> str:
    seed = f", seed {cfg.seed}" if cfg.seed else ""
    return cfg.label().split(" · ")[0] + f" ({cfg.epochs} ep, head lr {cfg.head_lr:g}{seed})"


def run_rows(runs: list[RunSummary]) -> list[dict]:
    """The results table: short headers (it fits 1280 px), the accuracy's 95 % interval from the test images."""
    rows = []
    for r in runs:
        lo, hi = wilson(float(r.metrics["test_acc"]), int(r.metrics["n_test"]))
        rows.append({"run": short_label(r.config), "accuracy %": round(100 * r.metrics["test_acc"], 1),
                     "95% interval": f"{100 * lo:.1f}–{100 * hi:.1f}", "time s": round(r.metrics["wall_s"], 1),
                     "backbone pass s": round(r.metrics.get("features_s", 0.0), 1),
                     "trainable": r.metrics.get("trainable_params"),  # optional metrics: a blank cell when absent
                     "images/s": None if "images_per_s" not in r.metrics else round(r.metrics["images_per_s"])})
    return rows


RUN_COLUMNS = {
    "run": st.column_config.TextColumn(width=280),  # the table fits 1280 px, images/s included
    "accuracy %": st.column_config.NumberColumn(help="Target test accuracy of the trained run"),
    "95% interval": st.column_config.TextColumn(help="Wilson interval of the accuracy from the number of test "
                                                     "images: a gap inside it can be chance"),
    "time s": st.column_config.NumberColumn(help="Wall time of the run (measured on a shared machine)"),
    "backbone pass s": st.column_config.NumberColumn(help="Feature extraction: the one pass of the frozen backbone "
                                                          "over the images, stored and shared by later runs"),
    "trainable": st.column_config.NumberColumn(format="localized"),
    "images/s": st.column_config.NumberColumn(format="localized"),
}
