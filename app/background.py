"""Slow computations in background threads, so that a rerun (an L change, say) returns at once and a fragment shows
the result when it is ready.

``submit(group, jobs)`` queues each ``fn(*args)`` of ``jobs`` (a dict key -> (fn, args)) for the calling browser
session and returns their futures, reusing a job already submitted under the same key (by any session: a result
depends only on its key). Fair sharing between sessions:

* jobs are keyed by session: a session's new request to a group cancels only the jobs *it* asked for there that are
  still waiting and that no other session wants any more, so dragging a slider does not pile up work, and one
  session never cancels another's;
* ``WORKERS`` threads serve every session, at most ``PER_SESSION`` jobs of one session at a time, the sessions in
  turn (round robin): a busy session cannot starve a quiet one;
* a session keeps at most ``MAX_JOBS`` jobs (oldest dropped from the registry; still-waiting ones cancelled).

The session is Streamlit's session id of the calling script thread (``None`` outside a script run: tests, benchmarks).
"""

from __future__ import annotations

import atexit
import collections
import concurrent.futures
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Any

MAX_JOBS = 64  # per session and group
MAX_RESULTS = 512  # finished jobs kept in all (the oldest go first; sessions that went away leave theirs)
WORKERS = max(1, min(4, os.cpu_count() or 2))  # background jobs running at once, in all
PER_SESSION = 1  # background jobs of one session running at once
Job = tuple[Callable[..., Any], tuple]


def _session() -> str | None:
    try:
        from streamlit.runtime.scriptrunner import get_script_run_ctx
    except ImportError:
        return None
    ctx = get_script_run_ctx(suppress_warning=True)
    return None if ctx is None else ctx.session_id


class _Task:
    """A queued job: its future, the call, and the sessions that still want it."""

    def __init__(self, fn: Callable[..., Any], args: tuple, session: str | None) -> None:
        self.future: Future = Future()
        self.fn, self.args = fn, args
        self.session = session  # whose turn runs it
        self.wanted: set[tuple[str | None, str]] = set()  # (session, group) that asked for it and did not move on


class _Pool:
    """``WORKERS`` daemon threads taking jobs from per-session queues in turn."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.tasks: dict[Hashable, _Task] = {}  # key -> task (shared by sessions)
        self.asked: dict[tuple[str | None, str], OrderedDict[Hashable, None]] = {}  # (session, group) -> its keys
        self.queues: OrderedDict[str | None, collections.deque[_Task]] = OrderedDict()  # session -> waiting tasks
        self.running: collections.Counter[str | None] = collections.Counter()
        self.started = False

    def _start(self) -> None:
        if not self.started:
            self.started = True
            for i in range(WORKERS):
                threading.Thread(target=self._work, name=f"efm-background-{i}", daemon=True).start()

    def _next(self) -> _Task | None:
        """The first waiting task of the first session (in turn) below its cap; that session moves to the back."""
        for session in list(self.queues):
            queue = self.queues[session]
            while queue and queue[0].future.cancelled():
                queue.popleft()
            if not queue:
                del self.queues[session]
                continue
            if self.running[session] < PER_SESSION:
                self.queues.move_to_end(session)
                return queue.popleft()
        return None

    def _work(self) -> None:
        while True:
            with self.cond:
                task = self._next()
                while task is None:
                    self.cond.wait()
                    task = self._next()
                self.running[task.session] += 1
            try:
                if task.future.set_running_or_notify_cancel():
                    try:
                        task.future.set_result(task.fn(*task.args))
                    except BaseException as err:  # handed to whoever reads the future
                        task.future.set_exception(err)
            finally:
                with self.cond:
                    self.running[task.session] -= 1
                    self.cond.notify_all()

    def _drop(self, owner: tuple[str | None, str], key: Hashable) -> None:
        """``owner`` no longer wants ``key``: cancel it if it waits and nobody else wants it."""
        task = self.tasks.get(key)
        if task is None:
            return
        task.wanted.discard(owner)
        if not task.wanted:
            task.future.cancel()  # a no-op once running or done
            if task.future.done():
                del self.tasks[key]

    def submit(self, session: str | None, group: str, jobs: dict[Hashable, Job]) -> dict[Hashable, Future]:
        owner = (session, group)
        with self.cond:
            self._start()
            asked = self.asked.setdefault(owner, OrderedDict())
            for key in [k for k in asked if k not in jobs]:
                del asked[key]
                self._drop(owner, key)
            out = {}
            for key, (fn, args) in jobs.items():
                task = self.tasks.get(key)
                if task is None or task.future.cancelled():
                    task = self.tasks[key] = _Task(fn, args, session)
                    self.queues.setdefault(session, collections.deque()).append(task)
                task.wanted.add(owner)
                asked[key] = None
                asked.move_to_end(key)
                out[key] = task.future
            while len(asked) > MAX_JOBS:
                key, _ = asked.popitem(last=False)
                self._drop(owner, key)
            finished = [k for k, t in self.tasks.items() if t.future.done() and k not in jobs]
            for key in finished[: max(0, len(self.tasks) - MAX_RESULTS)]:
                del self.tasks[key]
            self.cond.notify_all()
            return out

    def cancel_pending(self) -> None:
        with self.cond:
            for task in self.tasks.values():
                task.future.cancel()
            self.tasks = {k: t for k, t in self.tasks.items() if not t.future.done()}
            self.asked.clear()

    def pending(self) -> int:
        with self.cond:
            return sum(not t.future.done() for t in self.tasks.values())

    def running_futures(self) -> list[Future]:
        with self.cond:
            return [t.future for t in self.tasks.values() if t.future.running()]


_POOL = _Pool()


def submit(group: str, jobs: dict[Hashable, Job]) -> dict[Hashable, Future]:
    """Futures for ``jobs`` (key -> (fn, args)) of the calling session's ``group``, run on the shared fair pool."""
    return _POOL.submit(_session(), group, jobs)


def pending() -> int:
    """Background jobs of all sessions that wait or run (for benchmarks and tests that wait for quiet)."""
    return _POOL.pending()


def cancel_pending() -> None:
    """Cancel every job still waiting in a queue (running ones finish); for tests and shutdown."""
    _POOL.cancel_pending()


@atexit.register
def _shutdown(timeout: float = 60.0) -> None:
    """At exit: drop queued jobs and let a running one finish (a thread killed inside torch aborts the process)."""
    cancel_pending()
    concurrent.futures.wait(_POOL.running_futures(), timeout=timeout)
