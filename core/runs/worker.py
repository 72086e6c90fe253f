"""The body of one training worker process: `python -m core.runs.worker`, started by core.runs.jobs.Jobs.

A plain interpreter started with its own environment (OMP_WAIT_POLICY is read once, when torch loads
the OpenMP runtime), not a `multiprocessing` child: spawn and forkserver re-import the parent's
`__main__`, which inside Streamlit is whichever page script happens to be running.

The channel, the same on every platform: the server writes a fresh random auth key as one hex line on the
worker's stdin; the worker listens on 127.0.0.1 (a free port) with that key, prints the port as one line on
its stdout and accepts the server's one connection, a `multiprocessing.connection.Connection` over a socket
(which `connection.wait` supports on Windows too). The stdin pipe then stays open as the server's lifeline:
when the server exits, however it exits, the operating system closes it and the worker exits at once, even
mid-training.

Protocol, server -> worker: ("setup", WorkerSetup) once, then ("train", key, config) per job, or None
to exit. Worker -> server: ("ready", "", None) once its data is decoded, then per job: ("progress", key,
Progress) many times, then ("done", key, dict) or ("failed", key, text). The worker also exits when the
connection closes.
"""
from __future__ import annotations

import os
import sys
import threading
from functools import partial
from multiprocessing import AuthenticationError
from multiprocessing.connection import Connection, Listener
from typing import BinaryIO


def _die_with_the_server(lifeline: BinaryIO) -> None:
    """A watchdog thread: exit at once when the server's end of stdin closes (it exited, crashed or was killed).
    (Not a poll of the parent's pid: Windows never re-parents an orphan, and PR_SET_PDEATHSIG is Linux's and
    follows the thread that started the worker, here a session's script thread.)"""
    def watch() -> None:
        lifeline.read()  # returns only at end of file
        os._exit(0)

    threading.Thread(target=watch, name="server-watchdog", daemon=True).start()


def connect(stdin: BinaryIO, stdout: BinaryIO) -> Connection:
    """Read the auth key, listen on a free local port, tell the server which, accept its connection."""
    try:
        authkey = bytes.fromhex(stdin.readline().decode("ascii").strip())
    except ValueError:
        authkey = b""
    if len(authkey) < 16:  # no key (the server died first) or a bad one: never listen unauthenticated
        sys.exit("core.runs.worker: no auth key on stdin")
    _die_with_the_server(stdin)
    with Listener(("127.0.0.1", 0), "AF_INET", authkey=authkey) as listener:
        stdout.write(f"{listener.address[1]}\n".encode("ascii"))
        stdout.flush()
        os.dup2(2, 1)  # from here on a stray print goes to stderr, never into the pipe nobody reads any more
        while True:
            try:
                return listener.accept()
            except AuthenticationError:  # another local program knocked without the key: wait for the server
                continue


def main(conn: Connection) -> None:
    message = conn.recv()  # unpickling the setup imports core.runs.jobs, hence torch
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
    main(connect(sys.stdin.buffer, sys.stdout.buffer))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # as when the server goes: every job has answered, nothing is left to write, and tearing the
    # interpreter and torch down would keep the server's shutdown waiting for a second or more
