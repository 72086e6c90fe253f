"""The body of one training worker process: `python -m core.worker FD`, started by core.jobs.Jobs.

A plain interpreter started with its own environment (OMP_WAIT_POLICY is read once, when torch loads
the OpenMP runtime), not a `multiprocessing` child: spawn and forkserver re-import the parent's
`__main__`, which inside Streamlit is whichever page script happens to be running.
FD is this end of a socketpair, used as a `multiprocessing.connection.Connection`.

Protocol, server -> worker: ("setup", WorkerSetup) once, then ("train", key, config) per job, or None
to exit. Worker -> server, per job: ("progress", key, Progress) many times, then ("done", key, dict) or
("failed", key, text). The worker also exits when the server is gone (its end of the pipe closes).
"""
from __future__ import annotations

import sys
from functools import partial
from multiprocessing.connection import Connection


def main(conn: Connection) -> None:
    message = conn.recv()  # unpickling the setup imports core.jobs, hence torch
    assert message[0] == "setup"
    setup = message[1]
    setup.configure()
    context = setup.context()  # decodes the data once, before the first job
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
    main(Connection(int(sys.argv[1])))
