"""core.training.estimate: what a learner waits for, from measured parts, and what it learns from this machine."""
from __future__ import annotations

import pytest

from core.models.registry import ModelConfig
from core.training.config import TrainConfig
from core.training.estimate import (
    SETUP_S,
    WORKER_START_S,
    Overheads,
    PastRun,
    estimate,
    load_start_times,
    past_run,
    save_start_times,
    worker_wait,
)

CFG = TrainConfig(model=ModelConfig("net2", 128), optimizer="adam", lr=1e-3, batch_size=100, epochs=4)


def test_the_estimate_counts_evaluation_setup_and_a_starting_worker():
    """Issue 19: "~0 s" before a 2.9 s run: steps alone. Evaluation, set-up and a starting worker are counted."""
    e = estimate(CFG, n_train=3600, n_val=400, n_test=1000, step_s=0.002, eval_example_s=1e-5, wait_s=3.0)
    assert e.train_s == pytest.approx(36 * 4 * 0.002)
    assert e.eval_s == pytest.approx(1e-5 * (400 * 4 + 1000))  # validation each epoch, the test set once
    assert e.setup_s == SETUP_S and e.wait_s == 3.0
    assert e.total == pytest.approx(e.train_s + e.eval_s + e.setup_s + e.wait_s)
    assert "for a training worker to start" in e.parts()


def test_stored_runs_of_the_same_model_and_batch_on_this_machine_set_the_speed():
    alone = PastRun(CFG.model, "adam", 100, samples_per_s=20_000.0, eval_per_example_s=2e-5, alone=True)
    crowded = PastRun(CFG.model, "adam", 100, samples_per_s=5_000.0, eval_per_example_s=None, alone=False)
    other = PastRun(ModelConfig("net2", 16), "adam", 100, samples_per_s=1.0, eval_per_example_s=None, alone=True)
    e = estimate(CFG, 3600, 400, 1000, step_s=1.0, eval_example_s=1.0, past=[alone, crowded, other])
    assert e.train_s == pytest.approx(3600 * 4 / 20_000)  # the run that trained alone; not the step timing
    assert e.eval_s == pytest.approx(2e-5 * (400 * 4 + 1000))
    assert "stored run" in e.basis


def test_past_run_reads_a_stored_runs_metrics():
    metrics = {"samples_per_s": 9000.0, "n_train": 3600, "n_test": 1000, "n_val": 400, "eval_s": 0.26,
               "concurrent_runs": 2}
    p = past_run(CFG, metrics)
    assert p.eval_per_example_s == pytest.approx(0.26 / (400 * 4 + 1000)) and not p.alone
    assert past_run(CFG, {"samples_per_s": 1.0, "n_train": 4000, "n_test": 1000}).eval_per_example_s is None


def test_the_server_learns_its_overheads_from_the_runs_it_watched_land():
    clock = Overheads()
    assert clock.setup_s() == SETUP_S  # nothing seen yet: the bench's number
    for t in (2000.0, 2100.0, 2200.0):
        clock.observe(submitted=t, landed=t + 3.5, loop_s=2.0)
    assert clock.setup_s() == pytest.approx(1.5)


def test_a_run_waits_for_a_starting_worker_as_long_as_workers_took_to_start_here():
    assert worker_wait(None, [5.0]) == 0.0  # a worker is ready
    assert worker_wait(1.0, []) == pytest.approx(WORKER_START_S - 1.0)  # none has started yet on this server
    assert worker_wait(2.0, [9.0, 11.0, 10.0]) == pytest.approx(8.0) and worker_wait(20.0, [10.0]) == 0.0


@pytest.mark.parametrize("content", [b"[]", b"null", b'{"worker_start_s": "7"}', b'{"worker_start_s": [true, -1, 1e9]}',
                                     b"\xff\xfe", b"x" * 5000])
def test_saved_worker_start_times_are_read_as_a_strangers_file(tmp_path, content):
    path = tmp_path / "timings.json"
    path.write_bytes(content)
    assert load_start_times(path) == []


def test_worker_start_times_round_trip_for_the_next_server(tmp_path):
    path = tmp_path / "timings.json"
    assert load_start_times(path) == []
    save_start_times(path, [float(i) for i in range(1, 15)])
    assert load_start_times(path) == [float(i) for i in range(5, 15)]  # the last ten
