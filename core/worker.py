"""The body of one training worker process (started by core.jobs.Jobs with a `spawn` context).

This module imports only the standard library at the top: `main` first sets the
worker's environment (OMP_WAIT_POLICY must be set before the OpenMP runtime that
torch loads reads it), then receives its `WorkerSetup` over the pipe, which is
when torch and the trainers are imported.

Protocol on the duplex pipe, server -> worker: ("setup", WorkerSetup) once, then
("train", key, config) per job, or None to exit. Worker -> server, per job:
("progress", key, dict) many times, then ("done", key, dict) or ("failed", key, text).
"""
from __future__ import annotations

import os
from functools import partial
from multiprocessing.connection import Connection


def main(conn: Connection, env: dict[str, str]) -> None:
    os.environ.update(env)
    message = conn.recv()
    assert message[0] == "setup"
    setup = message[1]  # unpickling imports core.jobs, hence torch: after the environment is set
    setup.configure()
    context = setup.context()
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the server is gone
            return
        if message is None:
            return
        _, key, config = message
        conn.send(setup.run(context, key, config, partial(_send_progress, conn, key)))


def _send_progress(conn: Connection, key: str, progress: object) -> None:
    conn.send(("progress", key, progress))
