"""The host's worker threads (``ops/_workers.py``): hand-over, errors, busy workers, fork."""

from __future__ import annotations

import multiprocessing
import signal
import threading
import time

import numpy as np
import pytest

import inferentia_kernels as ik
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


def test_concurrent_int8_calls_agree(monkeypatch, fresh_pool):
    """Several threads calling at once share two workers (or run alone) and get the same sums."""
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setattr(_tiles, "THREADS", 3)
    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, (300, 700), dtype=np.uint8)
    b = rng.integers(-128, 128, (700, 400), dtype=np.int8)
    expected = a.astype(np.int64) @ b.astype(np.int64)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: ik.ops.matmul_integer(a, b, 3), range(8)))
    for out in results:
        np.testing.assert_array_equal(out, expected - 3 * b.astype(np.int64).sum(axis=0))


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


def _state(worker) -> int:
    return int(worker._state[0])


def _wait_until(condition, seconds=5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True


def test_an_idle_worker_spins_then_sleeps_and_starts_either_way(monkeypatch, fresh_pool):
    """Within ``SPIN_SECONDS`` of its last function a worker is spinning and ``start`` posts the
    next one; after that it sleeps on its lock, and ``start`` wakes it through the lock."""
    from inferentia_kernels.kernels import handoff

    monkeypatch.setattr(_workers, "SPIN_SECONDS", 0.05)
    (worker,) = _workers.reserve(1, 2)
    try:
        seen = []
        worker.start(lambda: seen.append(1))
        worker.finish()
        assert _state(worker) == handoff.SPINNING
        worker.start(lambda: seen.append(2))  # posted
        worker.finish()
        assert _wait_until(lambda: _state(worker) == handoff.SLEEPING)
        worker.start(lambda: seen.append(3))  # through the lock
        worker.finish()
        assert seen == [1, 2, 3]
    finally:
        worker.reserved.release()


def test_an_armed_worker_runs_once_a_kernel_or_finish_posts_it(monkeypatch, fresh_pool):
    """An armed worker waits (spinning) for its post: from a kernel given its state word's
    address, or else from ``finish``; posting twice changes nothing."""
    from inferentia_kernels.kernels import handoff

    monkeypatch.setattr(_workers, "SPIN_SECONDS", 30.0)  # no run before the post
    (worker,) = _workers.reserve(1, 2)
    try:
        assert _wait_until(lambda: _state(worker) == handoff.SPINNING)
        seen = []
        assert worker.arm(lambda: seen.append("kernel"))
        time.sleep(0.05)
        assert seen == [] and _state(worker) == handoff.ARMED
        handoff.post_all(np.array([worker.state_address], np.int64))
        assert _wait_until(lambda: seen == ["kernel"])
        handoff.post_all(np.array([worker.state_address], np.int64))  # a late post: nothing armed
        worker.finish()
        assert worker.arm(lambda: seen.append("finish"))
        time.sleep(0.05)
        assert seen == ["kernel"]
        worker.finish()
        assert seen == ["kernel", "finish"]
    finally:
        worker.reserved.release()


def test_an_armed_worker_runs_its_function_if_no_post_comes_in_time(monkeypatch, fresh_pool):
    """A caller may never post (an interrupt between ``arm`` and its kernel): the worker runs the
    function anyway once its spin time is over, and ``finish`` returns."""
    from inferentia_kernels.kernels import handoff

    monkeypatch.setattr(_workers, "SPIN_SECONDS", 0.05)
    (worker,) = _workers.reserve(1, 2)
    try:
        worker.start(lambda: None)  # the worker is now spinning, with a full spin time ahead
        worker.finish()
        seen = []
        assert worker.arm(lambda: seen.append(1))
        assert _wait_until(lambda: seen == [1])
        worker.finish()
        assert _state(worker) in (handoff.SPINNING, handoff.SLEEPING)
    finally:
        worker.reserved.release()


def test_workers_left_to_a_kernel_that_never_comes_still_run(monkeypatch, fresh_pool):
    """``run_tiles`` with ``kernel_posts`` whose caller runs no posting kernel: ``finish`` posts
    the armed workers, every tile runs, and no post is left for a later kernel."""
    monkeypatch.setattr(_tiles, "THREADS", 2)
    monkeypatch.setattr(_workers, "SPIN_SECONDS", 30.0)
    done, lock = [], threading.Lock()
    pending = [(0, 1, 0, 1), (1, 2, 0, 1)]

    def helper():
        while True:
            with lock:
                if not pending:
                    return
                tile = pending.pop()
            done.append((tile, threading.get_ident()))

    _tiles.run_tiles(lambda tile: None, [], helper=helper, kernel_posts=True)  # starts the worker
    pending[:] = [(0, 1, 0, 1), (1, 2, 0, 1)]
    done.clear()
    _tiles.run_tiles(lambda tile: None, [], helper=helper, kernel_posts=True)
    assert sorted(tile for tile, _ in done) == [(0, 1, 0, 1), (1, 2, 0, 1)]
    assert _workers.take_posts().size == 0


def test_no_thread_spins_when_threads_outnumber_the_cpus(monkeypatch, fresh_pool):
    """With more workers than CPUs, idle workers sleep at once (no spin rounds)."""
    import os

    monkeypatch.setattr(_tiles, "THREADS", (os.cpu_count() or 1) + 1)
    _tiles.run_tiles(lambda tile: None, [(0, 1, 0, 1)] * _tiles.THREADS)
    assert _workers._spin_rounds() == 0
    from inferentia_kernels.kernels import handoff

    assert all(_wait_until(lambda w=w: _state(w) == handoff.SLEEPING, 1.0) for w in _workers._workers)
