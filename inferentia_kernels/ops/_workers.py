"""The host's worker threads: one function at a time each.

A product split over the host threads hands work to the other threads and waits for them once
per call. With ``concurrent.futures`` that round trip ran a few hundred lines of Python (futures,
conditions, a queue, waiters) on both sides, which right after a large product (whose operands
have pushed the interpreter out of the caches) cost about 200 µs here, against about 30 µs
for two lock releases and acquires.

Even a lock's hand-over wakes a sleeping thread, and on a virtual machine whose idle vCPUs halt,
a wake-up goes through the hypervisor: 35-40 µs for the caller's release alone, and the worker
ran 0.1-0.2 ms after the caller. So threads spin, without the GIL, for up to ``SPIN_SECONDS``
where they would sleep, as the pools of ONNX Runtime and OpenMP do: an idle worker before it
sleeps on its lock (``kernels.handoff.wait_for_post``), a caller in ``finish`` before it sleeps
on the worker's. A call within that time finds the worker awake, and ``start`` posts the function
through the worker's state word. The worker then needs the GIL to run it, and would sleep on the
GIL while the caller holds it: ``arm`` leaves the post to the caller's next kernel
(``leave_posts``, ``take_posts``), which runs once the caller has released the GIL.

A caller reserves idle workers without waiting (``reserve``): while other calls use them it gets
fewer, down to none, and runs its work on fewer threads rather than queueing behind them.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable

import numpy as np

from ..kernels.handoff import ARMED, POSTED, SLEEPING, SPINNING, swap_state, wait_for_finished, wait_for_post

__all__ = ["SPIN_SECONDS", "Worker", "leave_posts", "reserve", "stop_all", "take_posts"]

#: How long an idle worker spins before it sleeps (and how long an armed one waits for its post,
#: or a caller for a worker to finish). None spin while there are more threads than CPUs.
SPIN_SECONDS = 0.002

_workers: list[Worker] = []
_lock = threading.Lock()
_pending = threading.local()  # .posts: state word addresses of the workers this thread armed
_NO_POSTS = np.zeros(0, np.int64)


@functools.cache
def _rounds_per_second() -> float:
    """Spin rounds (``wait_for_post``) per second on this CPU: a pause takes 10-150 cycles."""
    never = np.full(8, SPINNING, np.int64)
    rounds = 20_000
    wait_for_post(never, 0, 1)  # compiled (or loaded) before timing
    started = time.perf_counter()
    wait_for_post(never, 0, rounds)
    return rounds / max(time.perf_counter() - started, 1e-9)


def _spin_rounds() -> int:
    """Rounds to spin for ``SPIN_SECONDS``; none while the workers and a caller outnumber the CPUs
    (a spinning thread would then hold a CPU that a working one needs)."""
    if len(_workers) >= (os.cpu_count() or 1):
        return 0
    return int(SPIN_SECONDS * _rounds_per_second())


class Worker:
    """A daemon thread that runs the functions given to ``start``, one at a time."""

    def __init__(self):
        self.reserved = threading.Lock()  # held by the caller that uses this worker
        self._go = threading.Lock()  # released by start() or arm() while the thread sleeps on it
        self._done = threading.Lock()  # released by the thread once the function has returned
        self._go.acquire()
        self._done.acquire()
        self._function: Callable[[], None] | None = None
        self._error: BaseException | None = None
        self._state = np.full(8, SPINNING, np.int64)  # kernels.handoff's state vector, a cache line
        self._state[1] = 0
        self.state_address = self._state.ctypes.data
        self._given = self._finished = 0  # functions given (by callers), and finished (by the thread)
        _rounds_per_second()  # measured before the thread starts
        threading.Thread(target=self._loop, name="inferentia-kernels", daemon=True).start()

    def _loop(self) -> None:
        while True:
            self._wait()
            function, self._function = self._function, None
            if function is None:  # stop()
                return
            try:
                function()
            except BaseException as error:  # handed to the caller by finish()
                self._error = error
            finally:  # spinning again before the caller can hand over the next function
                self._state[0] = SPINNING
                self._finished += 1
                self._done.release()

    def _wait(self) -> None:
        """Spin until a function is posted; sleep on ``_go`` if none is within the spin time. A
        function armed but not posted by then runs anyway (its caller may never post it, e.g.
        when interrupted)."""
        if wait_for_post(self._state, self._finished, _spin_rounds()) == POSTED:
            return
        if swap_state(self._state, SPINNING, SLEEPING):
            self._go.acquire()
        else:
            swap_state(self._state, ARMED, POSTED)

    def start(self, function: Callable[[], None]) -> None:
        """Run ``function`` on this worker's thread (the caller holds ``reserved``)."""
        self._function = function
        self._given += 1
        if not swap_state(self._state, SPINNING, POSTED):
            self._go.release()

    def arm(self, function: Callable[[], None]) -> bool:
        """Give ``function`` to this worker to run once posted (``post``, or a kernel given its
        ``state_address``); whether it is armed: a sleeping worker is started instead."""
        self._function = function
        self._given += 1
        if swap_state(self._state, SPINNING, ARMED):
            return True
        self._go.release()
        return False

    def post(self) -> bool:
        """Run the armed function now; whether it was still armed (not posted, nor started)."""
        return swap_state(self._state, ARMED, POSTED)

    def finish(self) -> None:
        """Wait until the function given to ``start`` or ``arm`` has returned (posting it first);
        raise what it raised, or what interrupted the wait (e.g. KeyboardInterrupt), once the
        function has returned: a worker left running would write into a result already handed
        back, and its next ``finish`` would return one run early."""
        self.post()
        # Spinning first: the thread publishes that it has finished once it has let go of the GIL,
        # and it has released _done by then; sleeping on _done would need a wake-up.
        wait_for_finished(self._state, self._given, _spin_rounds())
        interrupted = None
        while True:
            try:
                self._done.acquire()
                break
            except BaseException as error:  # a signal handler raised: keep waiting, raise it after
                interrupted = interrupted or error
        error, self._error = self._error, None
        if interrupted is not None:
            raise interrupted
        if error is not None:
            raise error

    def stop(self) -> None:
        """End the thread once it is idle."""
        with self.reserved:
            self.start(None)


def leave_posts(workers: list[Worker]) -> None:
    """Leave the posting of these armed workers to the calling thread's next kernel that posts
    (through ``take_posts``)."""
    _pending.posts = np.array([worker.state_address for worker in workers], np.int64)


def take_posts() -> np.ndarray:
    """The state word addresses (int64) of the workers the calling thread armed and left to a
    kernel to post (``kernels.handoff.post_all``); none after the first call. A post that comes
    late or twice changes nothing: only an armed state is posted."""
    posts = getattr(_pending, "posts", _NO_POSTS)
    _pending.posts = _NO_POSTS
    return posts


def reserve(count: int, threads: int) -> list[Worker]:
    """Up to ``count`` idle workers, now reserved for the caller (release each one's ``reserved``
    when done), from a set of ``threads - 1`` workers started on first use."""
    with _lock:
        while len(_workers) < threads - 1:
            _workers.append(Worker())
    taken = []
    for worker in _workers[:threads - 1]:
        if len(taken) == count:
            break
        if worker.reserved.acquire(blocking=False):
            taken.append(worker)
    return taken


def stop_all() -> None:
    """Stop every worker; the next call starts new ones."""
    with _lock:
        workers = _workers[:]
        _workers.clear()
    for worker in workers:
        worker.stop()


def _forget_after_fork() -> None:
    """A forked child has none of the parent's threads: start its own when it needs them."""
    global _lock
    _workers.clear()
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)
