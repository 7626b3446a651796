"""A local batch worker: a Python process that runs jobs sent to it, one after another.

Started by :class:`~sape_geo_apps.batch.local_engine.LocalEngine` as
``python -m sape_geo_apps.batch.worker_process FD THREADS OUT PARENT_PID``, where ``FD`` is this process's end of
a socket pair: jobs arrive on it (None means stop) and outcomes go back on it. It is a fresh
interpreter rather than a multiprocessing child, so the script that started the batch is never
re-imported (no ``if __name__ == "__main__"`` guard needed) and imports are paid once per worker.

A worker dies with the batch process that started it: on Linux the kernel kills it when its parent
dies (``prctl(PR_SET_PDEATHSIG)``), elsewhere a thread watches the parent. So a killed batch never
leaves a job running on that nobody records, or that overlaps a rerun of the same batch.

SIGINT is ignored between jobs (an interrupt never kills an idle worker mid-receive) and raises
``KeyboardInterrupt`` during a job, which :func:`~sape_geo_apps.batch.worker.execute_job` turns into
an ``interrupted`` outcome.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from multiprocessing.connection import Connection

from sape_geo_apps.batch.worker import execute_job

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
PARENT_POLL_SECONDS = 0.5


def serve(connection: Connection, threads: int, out_root: str) -> None:
    """Run jobs from ``connection`` until it sends None or closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            job = connection.recv()
        except (EOFError, OSError):
            return  # the batch process is gone
        if job is None:
            return
        signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            outcome = execute_job(job, out_root, threads)
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            connection.send(outcome)
        except OSError:
            return  # the batch process is gone (BrokenPipeError); the run directory says what happened


def die_with_parent(parent: int) -> None:
    """End this process when ``parent`` (the batch process) ends, however it ends (SIGKILL included)."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0:
                if os.getppid() != parent:  # it died before the request was made
                    os._exit(1)
                return
        except (OSError, AttributeError):
            pass

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(argv: list[str]) -> None:
    descriptor, threads, out_root, parent = argv
    die_with_parent(int(parent))
    serve(Connection(int(descriptor)), int(threads), out_root)


if __name__ == "__main__":
    main(sys.argv[1:])
