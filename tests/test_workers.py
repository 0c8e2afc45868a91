"""The host's worker threads (``ops/_workers.py``): hand-over, waiting awake, errors, busy workers, fork."""

from __future__ import annotations

import multiprocessing
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import inferentia_kernels as ik
from inferentia_kernels.kernels.atomics import wait_for_change
from inferentia_kernels.ops import _tiles, _workers


def test_a_worker_runs_the_function_on_its_own_thread_and_hands_back_its_error(fresh_pool):
    (worker,) = _workers.reserve(1, 2)
    try:
        seen = []
        worker.start(lambda: seen.append(threading.get_ident()))
        worker.finish()
        assert seen and seen[0] != threading.get_ident()

        def fail() -> None:
            raise KeyError("in the worker")

        worker.start(fail)
        with pytest.raises(KeyError, match="in the worker"):
            worker.finish()
        worker.start(lambda: seen.append(1))  # still usable after an error
        worker.finish()
        assert seen[-1] == 1
    finally:
        worker.reserved.release()


def test_wait_for_change_sees_a_change_made_before_or_during_the_wait_and_gives_up_after_its_spins():
    counter = np.zeros(1, np.int64)
    assert not wait_for_change(counter, 0, 0, 1000)
    assert wait_for_change(counter, 0, 1, 1)  # already different
    changer = threading.Timer(0.05, lambda: counter.__setitem__(0, 5))
    changer.start()
    assert wait_for_change(counter, 0, 0, 1 << 62)  # returns once the other thread has written
    changer.join()


def _finished_within(seconds: float, function) -> bool:
    """Whether ``function()`` returned within ``seconds`` (run on a daemon thread)."""
    done = threading.Event()
    threading.Thread(target=lambda: (function(), done.set()), daemon=True).start()
    return done.wait(seconds)


def test_a_worker_waiting_awake_takes_its_next_function_at_once_and_stops_when_asked(monkeypatch, fresh_pool):
    """A worker that would wait awake for days takes the function given while it waits, and a
    stop while it waits ends its thread, instead of either waiting for the wait to run out."""
    monkeypatch.setattr(_workers, "_spins", 1 << 62)
    earlier = set(threading.enumerate())  # workers of earlier tests may still be ending
    (worker,) = _workers.reserve(1, 2)
    seen = []
    try:
        for round_ in range(3):
            assert _finished_within(30, lambda: (worker.start(lambda: seen.append(round_)), worker.finish()))
    finally:
        worker.reserved.release()
    assert seen == [0, 1, 2]
    threads = [t for t in threading.enumerate() if t.name == "inferentia-kernels" and t not in earlier]
    assert len(threads) == 1
    fresh_pool()
    threads[0].join(30)
    assert not threads[0].is_alive()


def test_a_worker_started_after_release_waits_for_a_kernel_to_start(monkeypatch, fresh_pool):
    """A function started ``after_release`` runs once ``released`` has moved (a kernel of the
    caller's has started), not before; ``run_together`` moves it itself when the caller's work
    starts no kernel, so that its workers do not wait out their spins."""
    monkeypatch.setattr(_workers, "_spins", 1 << 62)
    monkeypatch.setattr(_tiles, "THREADS", 2)
    (worker,) = _workers.reserve(1, 2)
    ran = threading.Event()
    try:
        worker.start(ran.set, after_release=True)
        assert not ran.wait(0.2)
        _workers.released[0] += 1
        assert ran.wait(30)
        worker.finish()
    finally:
        worker.reserved.release()
    callers = []
    assert _finished_within(30, lambda: _tiles.run_together(callers.append))
    assert sorted(callers) == [False, True]


def test_workers_find_their_wait_compiled_so_that_a_fork_cannot_inherit_numba_s_lock_held():
    """The first ``reserve`` compiles (or loads) the workers' wait on the calling thread: a worker
    thread doing it in the background would hold numba's compiler lock, which a process forked
    meanwhile would inherit held, and its next compilation would hang. (A fresh process: nothing
    is compiled in it yet.)"""
    code = textwrap.dedent("""
        import threading
        from inferentia_kernels.ops import _workers
        wait, found = _workers.wait_for_turn, []

        def recorded(*args):
            if threading.current_thread() is not threading.main_thread():
                found.append(bool(wait.signatures))
            return wait(*args)

        _workers.wait_for_turn = recorded
        for worker in _workers.reserve(2, 3):
            worker.start(lambda: None)
            worker.finish()
            worker.reserved.release()
        print(len(found), all(found))
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    waits, compiled = result.stdout.split()
    assert int(waits) >= 2 and compiled == "True"


def test_a_caller_gets_only_idle_workers(fresh_pool):
    first = _workers.reserve(2, 3)
    assert len(first) == 2
    assert _workers.reserve(1, 3) == []  # both in use: the caller runs alone
    first[0].reserved.release()
    second = _workers.reserve(2, 3)
    assert second == [first[0]]
    for worker in (first[1], *second):
        worker.reserved.release()


def test_an_error_in_a_worker_tile_reaches_the_caller_and_the_workers_stay_usable(monkeypatch, fresh_pool):
    monkeypatch.setattr(_tiles, "THREADS", 2)
    caller = threading.get_ident()
    started = threading.Event()

    def work(tile):
        if threading.get_ident() == caller:
            started.wait(5)  # let the worker take the other tile
        else:
            started.set()
            raise ValueError(f"tile {tile}")

    with pytest.raises(ValueError, match="tile"):
        _tiles.run_tiles(work, [(0, 1, 0, 1), (1, 2, 0, 1)])
    done = []
    _tiles.run_tiles(lambda tile: done.append(tile), [(0, 1, 0, 1), (1, 2, 0, 1)])
    assert sorted(done) == [(0, 1, 0, 1), (1, 2, 0, 1)]


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs signal.setitimer")
def test_an_interrupt_while_waiting_for_a_worker_waits_for_it_first(monkeypatch, fresh_pool):
    """A signal whose handler raises (as Ctrl-C does) while the caller waits for a worker reaches
    the caller only once the worker's tile is done; the next call still waits for its worker."""
    monkeypatch.setattr(_tiles, "THREADS", 2)
    caller = threading.get_ident()

    class Interrupt(Exception):
        pass

    def interrupt(signum, frame):
        raise Interrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        done, started = [], threading.Event()

        def work(tile):
            if threading.get_ident() == caller:
                started.wait(5)  # the worker has taken the other tile
                signal.setitimer(signal.ITIMER_REAL, 0.05)  # rings while the caller waits for it
            else:
                started.set()
                time.sleep(0.3)
                done.append(tile)

        with pytest.raises(Interrupt):
            _tiles.run_tiles(work, [(0, 1, 0, 1), (1, 2, 0, 1)])
        assert len(done) == 1
        done.clear()
        started.clear()
        signal.signal(signal.SIGALRM, signal.SIG_IGN)
        _tiles.run_tiles(work, [(0, 1, 0, 1), (1, 2, 0, 1)])
        assert len(done) == 1  # returned only after the worker's tile
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_no_tiles_wake_no_worker(monkeypatch, fresh_pool):
    """An empty product (e.g. a batch of 0) has no tiles: no worker is woken for it."""
    monkeypatch.setattr(_tiles, "THREADS", 3)
    started, start = [], _workers.Worker.start

    def recorded(worker, function):
        started.append(worker)
        start(worker, function)

    monkeypatch.setattr(_workers.Worker, "start", recorded)
    _tiles.run_tiles(lambda tile: None, [])
    assert started == []


@pytest.mark.parametrize(("shape", "prepacked"), [((300, 700, 400), False), ((1024, 1024, 256), True)],
                         ids=["strips", "strips-together"])
def test_concurrent_int8_calls_agree(monkeypatch, fresh_pool, shape, prepacked):
    """Several threads calling at once share two workers (or run alone) and get the same sums, also
    where the threads of a call go through packed strips together (on AMX; workers there wait
    for any caller's kernel to start)."""
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setattr(_tiles, "THREADS", 3)
    rng = np.random.default_rng(3)
    m, k, n = shape
    a = rng.integers(0, 256, (m, k), dtype=np.uint8)
    b = rng.integers(-128, 128, (k, n), dtype=np.int8)
    weights = ik.ops.prepack(b) if prepacked else b
    expected = a.astype(np.int64) @ b.astype(np.int64) - 3 * b.astype(np.int64).sum(axis=0)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: ik.ops.matmul_integer(a, weights, 3), range(8)))
    for out in results:
        np.testing.assert_array_equal(out, expected)


def _product_in_child(queue) -> None:
    rng = np.random.default_rng(5)
    a = rng.integers(0, 256, (300, 700), dtype=np.uint8)
    b = rng.integers(-128, 128, (700, 400), dtype=np.int8)
    queue.put(bool((ik.ops.matmul_integer(a, b) == a.astype(np.int64) @ b.astype(np.int64)).all()))


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_a_forked_child_starts_its_own_workers(monkeypatch):
    """The parent's worker is idle when it forks; the child, which has none of its thread, starts
    its own instead of handing work to a thread that does not exist and waiting forever."""
    monkeypatch.setattr(_tiles, "THREADS", 2)
    _product_in_child(multiprocessing.Queue())  # the parent's worker is running
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_product_in_child, args=(queue,))
    child.start()
    child.join(60)
    if child.is_alive():
        child.kill()
    assert child.exitcode == 0
    assert queue.get(timeout=5)
