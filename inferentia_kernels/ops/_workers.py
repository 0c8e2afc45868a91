"""The host's worker threads: one function at a time each, handed over through two locks and a
counter.

A product split over the host threads hands work to the other threads and waits for them once
per call. With ``concurrent.futures`` that round trip ran a few hundred lines of Python (futures,
conditions, a queue, waiters) on both sides, which right after a large product (whose operands
have pushed the interpreter out of the caches) cost about 200 µs here, against about 30 µs
for two lock releases and acquires.

After its work a worker stays awake for ``SPIN_SECONDS`` (as ONNX Runtime's and OpenMP's threads
do), watching the count of functions given to it without holding the interpreter's lock, before
it sleeps on the lock. Handing work to a sleeping thread is a system call that wakes its CPU,
which on a virtual machine whose idle CPUs halt took the caller about 20 µs; to a waking one,
3 µs. 1024^3 on two threads (one product after the other): 0.955x the time with a fresh B,
0.968x prepacked.

A function that the caller starts ``after_release`` waits, awake, until a kernel has counted its
start in ``released`` (the caller's, which has then let go of the interpreter's lock) before it
takes that lock: a thread that asks for it while another holds it sleeps until it is let go,
and then wakes as slowly as above.

A caller reserves idle workers without waiting (``reserve``): while other calls use them it gets
fewer, down to none, and runs its work on fewer threads rather than queueing behind them.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

import numpy as np

from ..kernels.atomics import wait_for_change, wait_for_turn

__all__ = ["SPIN_SECONDS", "Worker", "released", "reserve", "stop_all"]

#: How long an idle worker waits awake for its next function before it sleeps on a lock (and
#: then, for a function started ``after_release``, at most as long again for a kernel to start).
SPIN_SECONDS = 1e-3

#: Kernels started that count themselves here as they start (their thread has let go of the
#: interpreter's lock by then): a hint for waiting workers, which any change lets go on.
released = np.zeros(1, np.int64)

_workers: list[Worker] = []
_lock = threading.Lock()
_spins = 0  # ``spin_pause`` rounds in SPIN_SECONDS on this host, measured with the first worker


def _measure_spins() -> int:
    """``wait_for_change`` rounds that take ``SPIN_SECONDS`` (the fastest of a few timings).

    Also compiles (or loads) ``wait_for_turn`` here, before any worker calls it: a worker thread
    compiling it in the background would hold numba's compiler lock, and a process forked
    meanwhile would inherit that lock held, for good."""
    counter, rounds = np.zeros(1, np.int64), 4096
    wait_for_change(counter, 0, 0, 1)  # compiled (or loaded) outside the timing
    wait_for_turn(np.array([0, -1], np.int64), 0, released, 0)
    fastest = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        wait_for_change(counter, 0, 0, rounds)
        fastest = min(fastest, time.perf_counter() - start)
    return max(1, int(SPIN_SECONDS / max(fastest, 1e-9) * rounds))


class Worker:
    """A daemon thread that runs the functions given to ``start``, one at a time."""

    def __init__(self):
        self.reserved = threading.Lock()  # held by the caller that uses this worker
        self._go = threading.Lock()  # released by start(): the thread runs the function
        self._done = threading.Lock()  # released by the thread once the function has returned
        self._go.acquire()
        self._done.acquire()
        # functions given so far and the count in ``released`` to wait past (-1: none), what the
        # thread waits for awake (``wait_for_turn``); a hint only, the function is handed over by ``_go``
        self._given = np.array([0, -1], np.int64)
        self._function: Callable[[], None] | None = None
        self._error: BaseException | None = None
        threading.Thread(target=self._loop, name="inferentia-kernels", daemon=True).start()

    def _loop(self) -> None:
        taken = 0
        while True:
            wait_for_turn(self._given, taken, released, _spins)
            self._go.acquire()
            taken = int(self._given[0])  # also right after a _give interrupted before its release
            function, self._function = self._function, None
            if function is None:  # stop()
                return
            try:
                function()
            except BaseException as error:  # handed to the caller by finish()
                self._error = error
            finally:
                self._done.release()

    def start(self, function: Callable[[], None], after_release: bool = False) -> None:
        """Run ``function`` on this worker's thread (the caller holds ``reserved``). With
        ``after_release``, a worker still waiting awake takes it only once a kernel has started
        since (any caller's: see ``released``), or after ``SPIN_SECONDS`` more at most; a
        sleeping worker takes it at once."""
        self._give(function, int(released[0]) if after_release else -1)

    def _give(self, function: Callable[[], None] | None, release: int = -1) -> None:
        self._function = function
        self._given[1] = release
        self._given[0] += 1
        self._go.release()

    def finish(self) -> None:
        """Wait until the function given to ``start`` has returned; raise what it raised, or what
        interrupted the wait (e.g. KeyboardInterrupt), once the function has returned: a worker
        left running would write into a result already handed back, and its next ``finish``
        would return one run early."""
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
            self._give(None)


def reserve(count: int, threads: int) -> list[Worker]:
    """Up to ``count`` idle workers, now reserved for the caller (release each one's ``reserved``
    when done), from a set of ``threads - 1`` workers started on first use."""
    global _spins
    with _lock:
        if threads > 1 and not _spins:
            _spins = _measure_spins()
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
