"""A local batch worker: a Python process that runs jobs sent to it, one after another.

Started by :class:`~sape_geo_apps.batch.local_engine.LocalEngine` as
``python -m sape_geo_apps.batch.worker_process FD THREADS OUT``, where ``FD`` is this process's end of
a socket pair: jobs arrive on it (None means stop) and outcomes go back on it. It is a fresh
interpreter rather than a multiprocessing child, so the script that started the batch is never
re-imported (no ``if __name__ == "__main__"`` guard needed) and imports are paid once per worker.

SIGINT is ignored between jobs (an interrupt never kills an idle worker mid-receive) and raises
``KeyboardInterrupt`` during a job, which :func:`~sape_geo_apps.batch.worker.execute_job` turns into
an ``interrupted`` outcome.
"""

from __future__ import annotations

import signal
import sys
from multiprocessing.connection import Connection

from sape_geo_apps.batch.worker import execute_job


def serve(connection: Connection, threads: int, out_root: str) -> None:
    """Run jobs from ``connection`` until it sends None or closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            job = connection.recv()
        except EOFError:
            return  # the batch process is gone
        if job is None:
            return
        signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            outcome = execute_job(job, out_root, threads)
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        connection.send(outcome)


def main(argv: list[str]) -> None:
    descriptor, threads, out_root = argv
    serve(Connection(int(descriptor)), int(threads), out_root)


if __name__ == "__main__":
    main(sys.argv[1:])
