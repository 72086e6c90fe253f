"""Training in worker processes (core/jobs.py): one pool of one worker serves the whole module, as a
server's pool serves every session; stop and crash tests also prove that the pool replaces its worker."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from job_trainers import TEST_TRAINERS, CrashConfig, HangConfig

from core.config import Paths
from core.data.mnist import load_sample
from core.models.registry import ModelConfig
from core.runs.jobs import STOPPED, Job, Jobs, pool_size
from core.runs.store import RunStore
from core.training.config import TrainConfig
from core.training.loop import fit

pytestmark = pytest.mark.slow  # every test here spawns training worker processes


TINY = TrainConfig(model=ModelConfig("net2", hidden=16), optimizer="adam", lr=3e-3, batch_size=256, epochs=2, seed=7)
WAIT_S = 240  # a fresh worker imports torch and decodes the data first; on a busy 2-core machine that takes a while


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Paths:
    return Paths(tmp_path_factory.mktemp("jobs-home"))


@pytest.fixture(scope="module")
def pool(home):
    jobs = Jobs(home, size=1, trainers=TEST_TRAINERS)
    try:
        yield jobs
    finally:
        jobs.shutdown()


def test_pool_size_follows_the_cores():
    assert [pool_size(n) for n in (1, 2, 3, 8, 16)] == [1, 1, 1, 4, 8]


def test_submit_streams_progress_and_stores_the_run_pytorch_would_train(pool, home, monkeypatch):
    seen: list[int] = []  # the job's length after each progress message the server received
    receive = Job._progress

    def record(job: Job, p) -> None:
        receive(job, p)
        seen.append(len(job.step_loss))

    monkeypatch.setattr(Job, "_progress", record)
    job = pool.submit(TINY)
    assert job.done.wait(WAIT_S)
    assert job.error == "" and job.status == "ok" and job.trained
    stored = RunStore(home.runs).load(TINY)
    assert stored is not None
    assert job.step_loss == stored.history.step_loss and job.fraction == 1.0  # what streamed is what was stored
    assert job.val_acc == stored.history.val_acc and len(job.val_acc) == TINY.epochs
    assert len(seen) >= TINY.epochs and seen == sorted(seen) and seen[0] < seen[-1]  # it grew, not only the end
    here = fit(TINY, load_sample(), torch.device("cpu"))  # the same config trained in this process
    for k, v in here.state.items():
        torch.testing.assert_close(stored.state[k], v, rtol=1e-4, atol=1e-5)


def test_same_config_from_many_sessions_is_one_job(pool, home):
    cfg = replace(TINY, seed=8)
    handles: list = []
    threads = [threading.Thread(target=lambda: handles.append(pool.submit(cfg))) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(h) for h in handles}) == 1
    assert handles[0].done.wait(WAIT_S) and handles[0].trained and handles[0].error == ""
    again = pool.submit(cfg)  # after it finished: a new job that finds the run in the store, trains nothing
    assert again is not handles[0] and again.done.wait(WAIT_S)
    assert again.status == "ok" and not again.trained


def test_stop_kills_the_worker_at_once_stores_nothing_and_the_pool_recovers(pool, home):
    long = replace(TINY, batch_size=16, epochs=60, seed=9)  # 15,000 steps: far longer than this test
    job = pool.submit(long)
    while len(job.step_loss) < 40:
        assert not job.done.wait(0.05), job.error
    before = pool.worker_pids()
    pool.stop(job)
    assert job.done.is_set() and job.error == STOPPED  # at once: no waiting for the loop to notice
    after = pool.submit(replace(TINY, seed=10))
    assert after.done.wait(WAIT_S) and after.status == "ok", after.error
    assert not set(before) & set(pool.worker_pids())  # the killed worker was replaced
    assert RunStore(home.runs).load(long) is None


def test_jobs_beyond_the_pool_wait_in_a_queue_with_their_position(pool, home):
    blocker = pool.submit(HangConfig(seed=11))
    while blocker.state != "running" or not blocker.step_loss:
        assert not blocker.done.wait(0.05), blocker.error
    waiting = [pool.submit(replace(TINY, seed=s)) for s in (12, 13, 14)]
    assert [pool.position(j) for j in waiting] == [0, 1, 2] and pool.position(blocker) is None
    pool.stop(waiting[1])  # leaving the queue moves the ones behind up
    assert waiting[1].error == STOPPED and [pool.position(j) for j in waiting] == [0, None, 1]
    pool.stop(blocker)
    assert all(j.done.wait(WAIT_S) for j in waiting)
    assert waiting[0].status == waiting[2].status == "ok"
    assert RunStore(home.runs).load(replace(TINY, seed=13)) is None


def test_a_worker_that_dies_is_reported_in_plain_words_and_replaced(pool):
    before = pool.worker_pids()
    job = pool.submit(CrashConfig(seed=15))
    assert job.done.wait(WAIT_S)
    assert job.error.startswith("The training worker process ") and "Nothing was saved" in job.error
    if hasattr(signal, "SIGKILL"):  # the out-of-memory killer's signal, POSIX only
        assert "worker process was killed (SIGKILL)" in job.error and "out of memory" in job.error
    assert "Traceback" not in job.error
    ok = pool.submit(replace(TINY, seed=16))
    assert ok.done.wait(WAIT_S) and ok.status == "ok", ok.error
    assert not set(before) & set(pool.worker_pids())


def test_a_model_too_big_for_memory_fails_in_the_worker_not_the_server(pool):
    """hidden = 10^9 asks Net2 for 3.1 TB: the worker says so and keeps serving (same process after)."""
    job = pool.submit(TrainConfig(model=ModelConfig("net2", hidden=10**9), batch_size=16, epochs=1))
    assert job.done.wait(WAIT_S)
    assert "hidden" in job.error and "Traceback" not in job.error and job.status == ""
    ok = pool.submit(replace(TINY, seed=17))
    assert ok.done.wait(WAIT_S) and ok.status == "ok", ok.error



def test_the_page_shows_the_queue_position_and_its_stop_button_takes_the_run_out(monkeypatch):
    from job_trainers import HANG_TRAINERS
    from streamlit.testing.v1 import AppTest

    from support import ROOT
    from ui import resources

    hanging = Jobs(resources.paths(), size=1, trainers=HANG_TRAINERS)
    monkeypatch.setattr(resources, "jobs", lambda: hanging)
    try:
        running, waiting = hanging.submit(replace(TINY, seed=21)), hanging.submit(replace(TINY, seed=22))
        at = AppTest.from_file(str(ROOT / "pages/fully_connected.py"), default_timeout=120)
        at.run()
        at.select_slider(key="fc_hidden").set_value(16)
        at.slider(key="fc_epochs").set_value(1)
        at.number_input(key="fc_seed").set_value(4242)  # a config no other test stores
        at.run()
        at.button(key="fc_train").click()
        at.run()
        assert not at.exception, at.exception
        assert "Waiting for a free training worker: 1 run ahead of this one." in [i.value for i in at.info]
        at.button(key="fc_stop").click()
        at.run()
        assert STOPPED in [i.value for i in at.info] and not at.error  # stopped by the learner: neutral, no error
        assert "fc_train" in [b.key for b in at.button]
        assert hanging.position(waiting) == 0 and running.state == "running"
    finally:
        hanging.shutdown()


def test_the_page_streams_a_running_jobs_progress_with_an_eta_from_its_real_steps(monkeypatch):
    """A run frozen at step 50 of 500 after 5 s: the progress line says where it is and how long is left
    (5 s / 50 steps x 450 steps = 45 s), read from the steps it actually took, not from the pre-run estimate."""
    from job_trainers import MIDWAY_TRAINERS
    from streamlit.testing.v1 import AppTest

    from support import ROOT
    from ui import resources

    frozen = Jobs(resources.paths(), size=1, trainers=MIDWAY_TRAINERS)
    monkeypatch.setattr(resources, "jobs", lambda: frozen)
    try:
        at = AppTest.from_file(str(ROOT / "pages/fully_connected.py"), default_timeout=120)
        at.query_params.update({"hidden": "16", "ep": "2", "seed": "4343"})  # a config no other test stores
        at.run()
        at.button(key="fc_train").click()
        at.run()
        job = frozen.get(frozen_config(at))
        assert job is not None and job.reported.wait(300)  # the worker's report reached the server
        at.run()
        assert not at.exception, at.exception
        texts = [p.proto.text for p in at.get("progress")]
        assert "Epoch 1/2 · step 50/500 · about 45 s left" in texts, texts
    finally:
        frozen.shutdown()


def frozen_config(at):
    """The config the page submitted: its default settings with the address's hidden units, epochs and seed."""
    from core.models.registry import ModelConfig
    from core.training.config import default_config

    return replace(default_config("net2", "mnist-sample"), model=ModelConfig("net2", 16), epochs=2, seed=4343)


SERVER = """
import sys
from pathlib import Path
from job_trainers import TEST_TRAINERS, HangConfig
from core.config import Paths
from core.runs.jobs import Jobs
jobs = Jobs(Paths(Path(sys.argv[1])), size=1, trainers=TEST_TRAINERS)
job = jobs.submit(HangConfig(seed=31))
assert job.reported.wait(600) and not job.done.is_set(), job.error
print(jobs.worker_pids()[0], flush=True)
sys.stdin.read()  # until the test kills this server
"""


@pytest.mark.slow
def test_a_worker_exits_when_its_server_is_killed_even_mid_training(tmp_path):
    """The server is killed (SIGKILL on Linux and macOS, TerminateProcess on Windows) while its worker trains.
    The worker holds the write end of the stderr pipe it shares with the server, so reading that pipe to its end
    waits exactly until the worker has exited too."""
    from support import ROOT

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), str(ROOT)])}
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(tmp_path)], cwd=ROOT, env=env,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert server.stdout.readline().strip().isdigit(), server.stderr.read().decode()[-2000:]
    finally:
        server.kill()
        server.wait()
    ended = threading.Thread(target=server.stderr.read, daemon=True)
    ended.start()
    ended.join(WAIT_S)
    assert not ended.is_alive(), "the worker outlived its server"


def test_windows_venv_workers_start_the_base_interpreter(monkeypatch):
    """A Windows venv's python.exe is a launcher with the real interpreter as its child: a Stop would kill only the
    launcher. Workers start the base interpreter, told which environment it runs in, as multiprocessing does."""
    from core.runs.jobs import worker_interpreter

    monkeypatch.setattr(sys, "executable", r"C:\\app\\.venv\\Scripts\\python.exe")
    monkeypatch.setattr(sys, "_base_executable", r"C:\\Python311\\python.exe")
    assert worker_interpreter("win32") == (r"C:\\Python311\\python.exe",
                                           {"__PYVENV_LAUNCHER__": r"C:\\app\\.venv\\Scripts\\python.exe"})
    assert worker_interpreter("linux") == (r"C:\\app\\.venv\\Scripts\\python.exe", {})
    monkeypatch.setattr(sys, "_base_executable", sys.executable)
    assert worker_interpreter("win32") == (sys.executable, {})


def test_a_worker_says_when_it_is_ready_and_the_pool_remembers_how_long_it_took():
    """Issue 19: the first run waited for a worker to start, and the estimate did not know. A worker reports
    "ready" once its data is decoded; the pool keeps how long that took and whether one is ready now."""
    jobs = Jobs(Paths(Path(tempfile.mkdtemp(prefix="jobs-ready-"))), size=1, trainers=TEST_TRAINERS)
    try:
        assert jobs.starting_s() is not None and jobs.starting_s() >= 0.0  # just spawned
        job = jobs.submit(replace(TINY, seed=71))
        assert job.done.wait(WAIT_S) and job.error == ""
        assert jobs.starting_s() is None  # it said "ready" before it took the job
        assert len(jobs.start_s) == 1 and 0.0 < jobs.start_s[0] < WAIT_S
    finally:
        jobs.shutdown()
