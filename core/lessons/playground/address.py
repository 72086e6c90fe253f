"""The Playground's page address: every setting and view choice as a query parameter
(/playground?data=xor&hidden=4,2&lr=0.03 ...), written by `address` and read back by `parse_address`, which checks
each value on its own and names the ones it cannot use. No Streamlit here.
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import asdict, fields, replace

from core.lessons.playground.config import (
    DATASETS,
    DEFAULT_DATASET,
    FEATURES,
    LEARNING_RATES,
    PROBLEM_LABELS,
    REG_RATES,
    PlaygroundConfig,
    View,
)

# config / view field -> its parameter in the page address (/playground?data=xor&hidden=4,2&lr=0.03 ...)
ADDRESS: dict[str, str] = {"problem": "problem", "dataset": "data", "noise": "noise", "train_pct": "train",
                           "batch_size": "batch", "features": "features", "hidden": "hidden",
                           "activation": "act", "lr": "lr", "regularization": "reg", "reg_rate": "rate",
                           "optimizer": "opt", "loss": "loss", "seed": "seed",
                           "show_test": "test", "discretize": "discretize", "edges": "edges"}
RUN_PARAM = "run"  # a stored playground run to open (its key)


def _text(name: str, value) -> str:
    if name in ("features", "hidden"):
        return ",".join(map(str, value)) or "none"
    if name == "batch_size":
        return "full" if value == 0 else str(value)
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def address(cfg: PlaygroundConfig, view: View | None = None) -> dict[str, str]:
    """The page-address settings that reproduce `cfg` and `view` (default: the default view) on the Playground page."""
    values = {**asdict(cfg), **asdict(view or View())}
    return {param: _text(name, values[name]) for name, param in ADDRESS.items()}


def _parse(name: str, raw: str):
    """One address value as the field's type (ValueError if it cannot be); ranges are checked by the config."""
    if name in ("features", "hidden"):
        parts = [] if raw in ("", "none") else raw.split(",")
        return tuple(int(p) for p in parts) if name == "hidden" else tuple(parts)
    if name == "batch_size":
        return 0 if raw == "full" else int(raw)
    if name in ("show_test", "discretize"):
        if raw not in ("0", "1"):
            raise ValueError(raw)
        return raw == "1"
    kind = {f.name: f.type for f in (*fields(PlaygroundConfig), *fields(View))}[name]
    if kind == "float":
        value = float(raw)
        if not math.isfinite(value):
            raise ValueError(raw)
        return value
    return int(raw) if kind == "int" else raw


def _echo(raw: str) -> str:
    """An address value as it may be shown back: letters, digits and . , - only (anything else as ?), 30 at most."""
    return re.sub(r"[^0-9A-Za-z.,-]", "?", raw[:30])


def parse_address(params: Mapping[str, str]) -> tuple[PlaygroundConfig, View, list[str]]:
    """The settings in a page address, each value checked on its own: a value that is malformed or out of range is
    named in the returned warnings (as plain text, safe to show) and replaced by its default, so one bad value never
    discards the others. The data set decides the problem type; a loss regression does not use is dropped."""
    warnings: list[str] = []
    cfg, view = PlaygroundConfig(), View()
    given = {name: str(params[p])[:200] for name, p in ADDRESS.items() if p in params}

    def refuse(name: str) -> None:
        warnings.append(f"{ADDRESS[name]}={_echo(given[name])} is not one of this page's settings")

    problem, dataset = given.pop("problem", None), given.pop("dataset", None)
    if dataset is not None and dataset in DATASETS:
        cfg = replace(cfg, problem=DATASETS[dataset].problem, dataset=dataset)
    elif dataset is not None:
        given["dataset"] = dataset
        refuse("dataset")
        del given["dataset"]
    if problem is not None and problem in PROBLEM_LABELS:
        if dataset not in DATASETS:
            cfg = replace(cfg, problem=problem, dataset=DEFAULT_DATASET[problem])  # type: ignore[arg-type]
    elif problem is not None:
        given["problem"] = problem
        refuse("problem")
        del given["problem"]
    view_fields = {f.name for f in fields(View)}
    for name, raw in given.items():
        try:
            value = _parse(name, raw)
        except ValueError:
            value = None
        if name == "edges" and value not in ("weight", "gradient"):
            value = None
        if name == "features" and isinstance(value, tuple) and set(value) <= set(FEATURES) and \
                len(set(value)) == len(value):
            value = tuple(f for f in FEATURES if f in value)  # any order in the address
        if name in ("lr", "reg_rate") and isinstance(value, float):  # the table's own number, for a stable key
            table = LEARNING_RATES if name == "lr" else REG_RATES
            value = next((v for v in table if math.isclose(v, value, rel_tol=1e-9)), value)
        if value is not None and name in view_fields:
            view = replace(view, **{name: value})
        elif value is not None:
            trial = replace(cfg, **{name: value})
            if name == "loss" and cfg.problem == "regression":
                trial = cfg if value == "mse" else None
            if trial is not None and not trial.problems():
                cfg = trial
            else:
                value = None
        if value is None:
            refuse(name)
    return cfg, view, warnings
