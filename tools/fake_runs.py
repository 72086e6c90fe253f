"""Stored runs made without training, for the tests and the bench: a run with untrained weights of a config,
families of distinct runs to fill a store, and the kill loop that kills a writer mid-save (it forks and SIGKILLs
where the platform can; elsewhere it starts writer processes and kills them as Windows would)."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from core.models.registry import ModelConfig, build_model
from core.runs.store import OLD, RUN_TMP, RunStore
from core.training.config import TrainConfig
from core.training.record import History, Run

STORE_CFG = TrainConfig(model=ModelConfig("net2", hidden=16), optimizer="adam", lr=3e-3, batch_size=128, epochs=2,
                        seed=1)


def make_run(cfg: TrainConfig = STORE_CFG, seed: int = 0, acc: float = 0.9, status: str = "ok") -> Run:
    model = build_model(cfg.model, torch.Generator().manual_seed(seed))
    spe = 3
    history = History([2.3 / (1 + i) for i in range(spe * cfg.epochs)], spe, [1.0] * cfg.epochs,
                      [acc] * cfg.epochs)
    metrics = {"test_acc": acc, "test_loss": 1.0, "train_s": 1.5, "wall_s": 2.0, "samples_per_s": 1000.0,
               "device": "cpu", "n_train": 4000, "n_test": 1000}
    return Run(cfg, {k: v.detach().clone() for k, v in model.state_dict().items()}, history, metrics, status)  # type: ignore[arg-type]


def make_transfer_run(cfg, seed: int = 0, acc: float = 0.5) -> Run:
    """A storable transfer run of `cfg` (a core.config.TransferConfig) with random ResNet-18 weights, nothing
    trained: the whole model, or only the fc head for feature extraction (its backbone is the stored one)."""
    from core.transfer.model import build_resnet18, expected_state  # torchvision: imported on use
    from core.transfer.tasks import num_classes

    model = build_resnet18(num_classes(cfg), torch.Generator().manual_seed(seed))
    keep = expected_state(cfg)
    state = {k: v.detach().clone() for k, v in model.state_dict().items() if k in keep}
    history = History([1.0] * cfg.epochs, 1, [1.0] * cfg.epochs, [acc] * cfg.epochs)
    metrics = {"test_acc": acc, "test_loss": 1.0, "train_s": 1.5, "wall_s": 2.0, "samples_per_s": 100.0,
               "device": "cpu", "n_train": 100, "n_test": 500, "images_per_s": 100.0,
               "trainable_params": sum(p.numel() for k, p in model.named_parameters() if k in keep)}
    return Run(cfg, state, history, metrics)


def synthetic_run(i: int):
    """Run number `i` of a family of distinct runs (Net2 and CNNDemo, several optimizers, sizes, seeds): real
    untrained weights of the architecture and a history shaped like training's. No training happens."""

    arch = ("net2", "cnn")[i % 2]
    hidden = (16, 32, 64, 128)[(i // 2) % 4]
    opt = ("adam", "sgd", "momentum")[(i // 8) % 3]
    cfg = TrainConfig(ModelConfig(arch, hidden), opt, (1e-3, 1e-2, 0.1)[i % 3], batch_size=(64, 256, 512)[i % 3],
                      epochs=5 + i % 6, seed=i // 24, data_source="mnist-sample")
    spe = -(-4000 // cfg.batch_size)
    steps = spe * cfg.epochs
    t = np.arange(1, steps + 1)
    loss = 2.3 * np.exp(-t / (steps / 3)) + 0.1 + 0.05 * np.random.default_rng(i).random(steps)
    val = [float(loss[(e + 1) * spe - 1]) for e in range(cfg.epochs)]
    acc = [min(0.99, 0.5 + 0.45 * (1 - np.exp(-(e + 1) / 2))) for e in range(cfg.epochs)]
    model = build_model(cfg.model, torch.Generator().manual_seed(i))
    train_s = float(steps * 0.004)
    metrics = {"test_acc": acc[-1], "test_loss": val[-1], "train_s": train_s, "wall_s": train_s + 0.5,
               "samples_per_s": 4000 * cfg.epochs / train_s, "device": "CPU · 2 threads", "n_train": 4000,
               "n_test": 1000, "concurrent_runs": 1 + i % 3}
    return Run(cfg, model.state_dict(), History(loss.tolist(), spe, val, acc), metrics)


def fill_store(root: Path, n: int) -> int:
    """Store synthetic runs 0..n-1 that are not stored yet; returns how many were new."""

    store = RunStore(root)
    added = 0
    for i in range(n):
        run = synthetic_run(i)
        if store.load(run.config) is None:
            store.save(run)
            added += 1
    return added


def _state_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _versions() -> list[Run]:
    """The two versions the kill loop's writer alternates: same config, different weights and metrics."""
    big = replace(STORE_CFG, model=ModelConfig("net2", 512))
    return [make_run(big, seed=s, acc=a) for s, a in ((0, 0.25), (1, 0.75))]


def _writer(root: Path, versions: list[Run]) -> None:
    """Child process: overwrite the same run forever, alternating two versions."""
    torch.set_num_threads(1)
    store = RunStore(root)
    i = 0
    while True:
        store.save(versions[i % 2])
        i += 1


def _forked_writer(root: Path, versions: list[Run]) -> int:
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child never returns
        try:
            _writer(root, versions)
        finally:
            os._exit(1)
    return pid


def _standby_writer(root: Path) -> subprocess.Popen:
    """A writer process (`python -m tools.fake_runs ROOT`) that says "ready" once imported and starts writing when
    told "go": the next one starts while the current one writes, so its start-up is not waited for."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    return subprocess.Popen([sys.executable, "-m", "tools.fake_runs", str(root)], env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)


def kill_loop(root: Path, kills: int, max_delay_s: float = 0.4, seed: int = 0) -> dict:
    """Start a writer that overwrites one run in a loop, kill it at a random moment, restart the store; repeat.
    A forked writer gets SIGKILL where the platform has both; elsewhere writer processes are killed with
    `Popen.kill` (TerminateProcess on Windows).

    Returns the figures: kills, runs intact after each restart, kills that hit a write in progress, temps left."""
    versions = _versions()
    cfg = versions[0].config
    RunStore(root).save(versions[0])
    rng = random.Random(seed)
    fork = hasattr(os, "fork") and hasattr(signal, "SIGKILL")
    intact = mid_write = temps_left = 0
    standby = None if fork else _standby_writer(root)
    try:
        for i in range(kills):
            if fork:
                pid = _forked_writer(root, versions)
                time.sleep(rng.uniform(0.05, max_delay_s))  # forking this process alone takes ~50 ms
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            else:
                writer, standby = standby, None
                assert writer.stdout.readline() == b"ready\n", "the writer process did not start"
                writer.stdin.write(b"go\n")
                writer.stdin.flush()
                standby = _standby_writer(root) if i + 1 < kills else None
                time.sleep(rng.uniform(0.05, max_delay_s))
                writer.kill()
                writer.wait()
            mid_write += any(p.name.startswith((RUN_TMP, OLD)) for p in root.iterdir()) or \
                not (root / cfg.key()).exists()
            store = RunStore(root)
            temps_left += sum(1 for p in root.rglob("*") if p.name.startswith((".tmp-", OLD)))
            run = store.load(cfg)
            intact += run is not None and any(_state_equal(run.state, v.state) and run.metrics == v.metrics
                                              for v in versions)
    finally:
        if standby is not None:
            standby.kill()
            standby.wait()
    return {"kills": kills, "intact": intact, "mid_write": mid_write, "temps_left": temps_left}


if __name__ == "__main__":  # a standby writer of the kill loop
    _versions_here = _versions()
    print("ready", flush=True)
    if sys.stdin.readline().strip() == "go":
        _writer(Path(sys.argv[1]), _versions_here)
