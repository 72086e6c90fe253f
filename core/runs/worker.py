"""The body of one training worker process: `python -m core.runs.worker FD SERVER_PID`, started by core.jobs.Jobs.

A plain interpreter started with its own environment (OMP_WAIT_POLICY is read once, when torch loads
the OpenMP runtime), not a `multiprocessing` child: spawn and forkserver re-import the parent's
`__main__`, which inside Streamlit is whichever page script happens to be running.
FD is this end of a socketpair, used as a `multiprocessing.connection.Connection`.

Protocol, server -> worker: ("setup", WorkerSetup) once, then ("train", key, config) per job, or None
to exit. Worker -> server: ("ready", "", None) once its data is decoded, then per job: ("progress", key,
Progress) many times, then ("done", key, dict) or
("failed", key, text). The worker also exits when the server is gone (its end of the pipe closes).
"""
from __future__ import annotations

import os
import sys
import threading
import time
from functools import partial
from multiprocessing.connection import Connection


def _die_with_the_server(server_pid: int, every_s: float = 1.0) -> None:
    """A watchdog thread: exit at once if the server process dies, even by SIGKILL mid-training.
    (Not PR_SET_PDEATHSIG: that follows the thread that started the worker, here a session's script thread.)"""
    def watch() -> None:
        while os.getppid() == server_pid:
            time.sleep(every_s)
        os._exit(0)

    threading.Thread(target=watch, name="server-watchdog", daemon=True).start()


def main(conn: Connection, server_pid: int) -> None:
    _die_with_the_server(server_pid)
    message = conn.recv()  # unpickling the setup imports core.jobs, hence torch
    assert message[0] == "setup"
    setup = message[1]
    setup.configure()
    context = setup.context()  # decodes the data once, before the first job
    conn.send(("ready", "", None))  # the server's estimates learn how long a worker takes to start
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


if __name__ == "__main__":
    main(Connection(int(sys.argv[1])), int(sys.argv[2]))
