"""Slow computations in background threads, so that a rerun (an L change, say) returns at once and a fragment shows
the result when it is ready.

``submit(group, jobs)`` starts each ``fn(*args)`` of ``jobs`` (a dict key -> (fn, args)) on the group's single daemon
worker thread (one job at a time per group, so a group never competes with itself for the CPU), reusing a job already
submitted under the same key. Jobs of the group still waiting in its queue and not in ``jobs`` are cancelled, so
dragging a slider does not pile up work. The registry is shared by all sessions (a result depends only on its key)
and keeps the last ``MAX_JOBS`` jobs per group.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Any

MAX_JOBS = 64
Job = tuple[Callable[..., Any], tuple]


class _Group:
    """One daemon worker thread (it never keeps the process alive) working through a queue of futures."""

    def __init__(self, name: str) -> None:
        self.queue: queue.SimpleQueue[tuple[Future, Callable[..., Any], tuple]] = queue.SimpleQueue()
        self.jobs: OrderedDict[Hashable, Future] = OrderedDict()
        self.lock = threading.Lock()
        threading.Thread(target=self._work, name=f"efm-{name}", daemon=True).start()

    def _work(self) -> None:
        while True:
            job, fn, args = self.queue.get()
            if not job.set_running_or_notify_cancel():
                continue  # cancelled while waiting
            try:
                job.set_result(fn(*args))
            except BaseException as err:  # handed to whoever reads the future
                job.set_exception(err)

    def submit(self, jobs: dict[Hashable, Job]) -> dict[Hashable, Future]:
        with self.lock:
            for key, job in self.jobs.items():
                if key not in jobs and not job.running():
                    job.cancel()
            out = {}
            for key, (fn, args) in jobs.items():
                job = self.jobs.get(key)
                if job is None or job.cancelled():
                    job = Future()
                    self.queue.put((job, fn, args))
                    self.jobs[key] = job
                self.jobs.move_to_end(key)
                out[key] = job
            while len(self.jobs) > MAX_JOBS:
                self.jobs.popitem(last=False)
            return out


_GROUPS: dict[str, _Group] = {}
_GROUPS_LOCK = threading.Lock()


def _group(name: str) -> _Group:
    with _GROUPS_LOCK:
        if name not in _GROUPS:
            _GROUPS[name] = _Group(name)
        return _GROUPS[name]


def submit(group: str, jobs: dict[Hashable, Job]) -> dict[Hashable, Future]:
    """Futures for ``jobs`` (key -> (fn, args)) run one after the other on ``group``'s worker thread."""
    return _group(group).submit(jobs)


def cancel_pending() -> None:
    """Cancel every job still waiting in a queue (running ones finish); for tests and shutdown."""
    for group in list(_GROUPS.values()):
        with group.lock:
            for job in group.jobs.values():
                job.cancel()


@atexit.register
def _shutdown(timeout: float = 60.0) -> None:
    """At exit: drop queued jobs and let a running one finish (a thread killed inside torch aborts the process)."""
    cancel_pending()
    running = [job for group in list(_GROUPS.values()) for job in group.jobs.values() if job.running()]
    concurrent.futures.wait(running, timeout=timeout)
