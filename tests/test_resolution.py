"""core.transfer.resolution and its figure: how input resolution trades accuracy against time across stored
transfer runs.
The runs are store summaries the tests build (config + metrics); every number in the conclusion is checked
against those inputs."""
from __future__ import annotations

import pytest

from core.figures.transfer import STRATEGY_STYLE, resolution_tradeoff
from core.runs.store import RunSummary
from core.training.record import History
from core.transfer.config import TRANSFER_RESOLUTIONS, TransferConfig
from core.transfer.resolution import resolution_conclusion, resolution_points, resolutions


def summary(strategy: str, resolution: int, acc: float, wall_s: float, epochs: int = 1, features_s: float = 0.0,
            task: str = "target") -> RunSummary:
    cfg = TransferConfig(strategy=strategy, resolution=resolution, epochs=epochs, labels_per_class=10,
                         weights="random" if strategy == "scratch" else "digits-pretrained")
    if task == "source":
        cfg = TransferConfig(strategy="scratch", weights="random", task="source", resolution=resolution)
    metrics = {"test_acc": acc, "test_loss": 1.0, "wall_s": wall_s, "train_s": wall_s, "features_s": features_s}
    return RunSummary(cfg.key(), cfg, History([1.0], 1, [1.0], [acc]), metrics, 0.0, kind="transfer")


def test_points_keep_the_best_run_per_strategy_and_resolution():
    runs = [summary("feature", 64, 0.70, 3.0, features_s=2.5), summary("feature", 64, 0.75, 4.0, epochs=2,
                                                                        features_s=2.5),
            summary("scratch", 32, 0.40, 9.0), summary("feature", 32, 0.62, 1.0, features_s=0.8),
            summary("scratch", 32, 0.50, 9.0, task="source")]  # the pretraining: not a target run
    points = resolution_points(runs)
    assert [(p.strategy, p.resolution) for p in points] == [("feature", 32), ("feature", 64), ("scratch", 32)]
    best64 = points[1]
    assert (best64.acc, best64.wall_s, best64.features_s, best64.runs) == (0.75, 4.0, 2.5, 2)
    assert "2 ep" in best64.label and resolutions(points) == [32, 64]


def test_conclusion_compares_the_widest_span_of_one_strategy():
    points = resolution_points([summary("feature", 32, 0.624, 1.1), summary("feature", 128, 0.70, 4.0),
                                summary("feature", 224, 0.71, 15.4), summary("full", 32, 0.84, 16.0),
                                summary("full", 64, 0.86, 40.0)])
    text = resolution_conclusion(points, "full", 32)
    assert text == ("**Feature extraction**: going from 32 px to 224 px raised target accuracy from 62.4% to 71.0% "
                    f"(+8.6 points), for {15.4 / 1.1:.1f}× the time (1.1 s → 15.4 s).")
    worse = resolution_conclusion(resolution_points([summary("full", 32, 0.84, 16.0),
                                                     summary("full", 64, 0.80, 40.0)]), "feature", 32)
    assert "from 84.0% to 80.0% (-4.0 points): no gain, for 2.5× the time" in worse


def test_conclusion_says_what_to_train_when_resolution_cannot_be_seen():
    assert resolution_conclusion([], "feature", 32) == (
        "Train Feature extraction at 32 px and at 64 px (the Input resolution control) to see how resolution "
        "trades accuracy against time.")
    one = resolution_points([summary("scratch", 32, 0.4, 9.0)])
    assert resolution_conclusion(one, "scratch", 32).startswith(
        "Your stored runs on this task are all at 32 px: train From scratch at 64 px too")
    assert "train From scratch at 128 px too" in resolution_conclusion(one, "feature", 128)  # the stored strategy
    mixed = resolution_points([summary("scratch", 32, 0.4, 9.0), summary("feature", 64, 0.6, 2.0)])
    text = resolution_conclusion(mixed, "feature", 64)
    assert "No strategy is stored at two resolutions yet (Feature extraction at 64 px, From scratch at 32 px)" in text
    assert text.endswith("train Feature extraction at 32 px too to see resolution alone.")


def test_figure_one_marker_style_per_strategy_with_time_on_hover():
    points = resolution_points([summary("feature", 32, 0.62, 1.1, features_s=0.9),
                                summary("feature", 224, 0.71, 15.4, features_s=14.0),
                                summary("scratch", 64, 0.45, 30.0)])
    fig = resolution_tradeoff(points)
    feature, scratch = fig.data
    assert list(feature.x) == [32, 224] and list(feature.y) == pytest.approx([62.0, 71.0])
    assert (feature.marker.color, feature.marker.symbol) == STRATEGY_STYLE["feature"]
    assert (scratch.marker.color, scratch.marker.symbol) == STRATEGY_STYLE["scratch"]
    assert [list(c) for c in feature.customdata] == [[1.1, 0.9, 1], [15.4, 14.0, 1]]
    assert "time %{customdata[0]:.1f} s" in feature.hovertemplate and "backbone pass" in feature.hovertemplate
    assert "backbone pass" not in scratch.hovertemplate
    assert list(fig.layout.xaxis.tickvals) == list(TRANSFER_RESOLUTIONS) and fig.layout.xaxis.type == "log"
    colours = [c for c, _ in STRATEGY_STYLE.values()]
    assert len(set(colours)) == len(colours) and not {"#2ca02c", "#ff7f0e", "#9e9e9e"} & set(colours)
