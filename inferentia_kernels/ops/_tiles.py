"""Split a GEMM's output into tiles, each owned by one thread (or simulated core), and run them.

Tiles are column strips of ``N_TILE`` columns (the PE array's 128 output columns), all rows;
an engine may ask for wider strips on the host, where the width that keeps a strip's operand
in cache matters more; when there are fewer strips than workers (GEMV-like shapes) rows are
split instead. Results never depend on the split: integer sums are exact, and the float kernels
add every output's products in a fixed order whatever tile it lands in.

Inside ``on_device(op, device)`` the workers are the device's simulated cores: the plan aims at
one tile per core at least, every tile belongs to exactly one core (contiguous runs of tiles per
core), and each core's tiles run as tasks on the device's executor (the host threads when it
has none). Work that only prepares operands (packing) always runs on the host threads
(``run_on_host``): its results must stay in this process.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
import threading
from collections.abc import Callable
from concurrent.futures import Executor, wait

import numpy as np

from ..device import Device
from ..errors import describe, wrong_dtype
from . import _workers

__all__ = ["N_TILE", "THREADS", "Tile", "device_op", "on_a_device", "on_device", "owned_runs", "plan_tiles", "record_gemm",
           "row_chunks", "run_on_host", "run_tiles", "run_together", "workers"]

#: Columns per tile: the tensor engine's 128 output columns.
N_TILE = 128
#: Threads that run tiles: one per host CPU.
THREADS = os.cpu_count() or 1

Tile = tuple[int, int, int, int]  # row_lo, row_hi, col_lo, col_hi

_device: contextvars.ContextVar[Device | None] = contextvars.ContextVar("inferentia_kernels_device", default=None)


def _enter(op: str, device) -> contextvars.Token:
    if device is not None and not isinstance(device, Device):
        raise wrong_dtype(op, "device", "None or an inferentia_kernels.Device", describe(device))
    return _device.set(device)


@contextlib.contextmanager
def on_device(op: str, device):
    """Run the enclosed tiles on ``device`` (None: the host threads)."""
    token = _enter(op, device)
    try:
        yield device
    finally:
        _device.reset(token)


def device_op(op: str):
    """Decorate an op whose keyword-only ``device`` argument selects where its tiles run."""

    def decorate(function):
        @functools.wraps(function)
        def run(*args, **kwargs):
            token = _enter(op, kwargs.get("device"))  # as on_device, without a generator's cost on every call
            try:
                return function(*args, **kwargs)
            finally:
                _device.reset(token)

        return run

    return decorate


def record_gemm(op: str, *, m: int, k: int, n: int, batch: int, precision: str, count: int = 1,
                shared_weights: bool = True) -> None:
    """Tell the current device (if any) that ``op`` ran ``batch`` samples of ``count`` GEMMs
    [m, k] x [k, n], for its open profiles."""
    device = _device.get()
    if device is not None:
        device.record_gemm(op, m=m, k=k, n=n, count=count, batch=batch, shared_weights=shared_weights,
                           precision=precision)


def on_a_device() -> bool:
    """Whether the current op runs on a device (whose cores own its tiles)."""
    return _device.get() is not None


def tiles_run_here() -> bool:
    """Whether ``run_tiles`` runs the tiles in this process (so that they can write its memory)."""
    device = _device.get()
    return device is None or device.executor is None or device.executor_in_process


def workers() -> int:
    """How many tiles a plan should aim at: the host threads, or the device's cores if more."""
    device = _device.get()
    return THREADS if device is None else max(THREADS, device.cores)


def plan_tiles(rows: int, cols: int, *, row_multiple: int = 4, threads: int | None = None,
               n_tile: int | None = None) -> tuple[list[Tile], bool]:
    """Tiles covering [0, rows) x [0, cols), and whether they are column strips.

    ``rows``/``cols`` are already rounded up to ``row_multiple``; row splits keep that multiple.
    """
    n_tile = N_TILE if n_tile is None else n_tile
    strips = [(0, rows, lo, min(lo + n_tile, cols)) for lo in range(0, cols, n_tile)]
    # Column strips reuse each block of B across all rows: take them whenever they can keep the
    # host threads busy (a device's extra cores then own no strip, as on the chip, where an output
    # has as many column tiles as it has 128-column blocks); else rows, one run per worker.
    if len(strips) >= (THREADS if threads is None else threads) or rows <= row_multiple:
        return strips, True
    threads = workers() if threads is None else threads
    step = -(-rows // (row_multiple * threads)) * row_multiple
    return [(lo, min(lo + step, rows), 0, cols) for lo in range(0, rows, step)], False


def row_chunks(rows: int, segment: int, limit: int, cols: int, *, threads: int | None = None) -> list[Tile]:
    """Tiles of whole rows: chunks of at most ``limit`` rows (a memory bound; a multiple of 4
    when it can be), small enough to give every thread work, never crossing a multiple of
    ``segment`` rows (e.g. an image's pixels)."""
    threads = workers() if threads is None else threads
    chunk = max(4, min(limit, -(-rows // threads)) // 4 * 4)
    return [
        (lo, min(lo + chunk, start + segment, rows), 0, cols)
        for start in range(0, rows, segment)
        for lo in range(start, min(start + segment, rows), chunk)
    ]


def _run_all(work: Callable[[Tile], None], tiles: list[Tile], after: Callable[[Tile], None] | None = None) -> None:
    for tile in tiles:
        work(tile)
        if after is not None:
            after(tile)


def _run_elsewhere(work: Callable[[Tile], None], tiles: list[Tile], out: np.ndarray,
                   region: Callable[[Tile], tuple]) -> list[np.ndarray]:
    """A task in another process: run the tiles into this process's copy of ``out``, return their parts."""
    _run_all(work, tiles)
    return [np.array(out[region(tile)]) for tile in tiles]


def _run_here(work: Callable[[Tile], None], tasks: list[list[Tile]], executor: Executor | None,
              after: Callable[[Tile], None] | None = None, helper: Callable[[], None] | None = None) -> None:
    """Run ``tasks`` on ``executor``; None: the calling thread and up to THREADS - 1 host workers
    (``_workers``; fewer while other calls use them) take tasks in order until none is left (the
    caller works rather than sleeping while a worker wakes up, and no more threads run than the
    host has CPUs, whatever the number of tasks). Then each of them, all THREADS with a
    ``helper``, runs ``helper()``: it may join tasks still running (whose tiles share their work
    between threads)."""
    if executor is not None:
        futures = [executor.submit(_run_all, work, task, after) for task in tasks]
        wait(futures)
        for future in futures:
            future.result()
        return
    pending = iter(tasks)
    lock = threading.Lock()

    def drain() -> None:
        while True:
            with lock:
                task = next(pending, None)
            if task is None:
                break
            _run_all(work, task, after)
        if helper is not None:
            helper()

    _on_host_threads(drain, THREADS if helper is not None else min(len(tasks), THREADS))


def _on_host_threads(function: Callable[[], None], threads: int, after_release: bool = False) -> None:
    """Run ``function()`` on the calling thread and on up to ``threads - 1`` idle host workers at
    once (with ``after_release``, each worker once the caller's kernel has started: see
    ``_workers``); return when all have returned, raising the first error (the caller's own first)."""
    workers, started = _workers.reserve(max(threads - 1, 0), THREADS), []
    try:
        for worker in workers:
            worker.start(function, after_release)
            started.append(worker)
        function()
    finally:  # every task has finished (or failed) before the output is handed back
        failure = None
        for worker in workers:
            try:
                if worker in started:
                    if after_release:  # a worker still waiting for a kernel of the caller's goes on
                        _workers.released[0] += 1
                    worker.finish()
            except BaseException as error:  # the first one is raised below (after the caller's own)
                failure = failure or error
            finally:
                worker.reserved.release()
    if failure is not None:
        raise failure


def run_tiles(work: Callable[[Tile], None], tiles: list[Tile], *, out: np.ndarray | None = None,
              region: Callable[[Tile], tuple] | None = None, after: Callable[[Tile], None] | None = None,
              helper: Callable[[], None] | None = None) -> None:
    """Run ``work(tile)`` for every output tile, then ``after(tile)`` once the tile's part of the
    output is final: on the current device's executor when it has one, else on the host threads,
    each of which then runs ``helper()`` (if given, only off a device) once no tile is left to take.

    ``work`` writes the tile's part ``out[region(tile)]`` of ``out``. A device whose executor runs
    tasks in other processes gets each task with a copy of ``work``'s data and sends the parts back;
    they are written into ``out`` here, and ``after`` runs here too.
    """
    device = _device.get()
    tasks = owned_runs(tiles, device)
    if tiles_run_here():
        _run_here(work, tasks, None if device is None else device.executor, after,
                  helper if device is None else None)
        return
    if out is None or region is None:
        raise RuntimeError("run_tiles: tiles for another process need out= and region=")
    futures = [device.executor.submit(_run_elsewhere, work, task, out, region) for task in tasks]
    wait(futures)
    for task, future in zip(tasks, futures):
        for tile, part in zip(task, future.result()):
            out[region(tile)] = part
            if after is not None:
                after(tile)


def run_together(work: Callable[[bool], None]) -> None:
    """Run ``work(True)`` on the calling thread and, at the same time, ``work(False)`` on every
    idle host worker (never on a device's executor: for callers off a device), for work that the
    threads share as they go (e.g. through counters that hand out its parts). The workers start
    once a kernel has counted itself in ``_workers.released`` (the caller's, which should), so
    that they find the interpreter's lock free."""
    caller = threading.get_ident()
    _on_host_threads(lambda: work(threading.get_ident() == caller), THREADS, after_release=True)


def run_on_host(work: Callable[[Tile], None], pieces: list[Tile]) -> None:
    """Run ``work(piece)`` for every piece on the host threads, whatever the device: for work whose
    results stay in this process (packing operands that the tiles read)."""
    _run_here(work, owned_runs(pieces, None), None)


def _runs(items: list, parts: int) -> list[list]:
    """``items`` cut into ``parts`` contiguous runs of nearly equal length."""
    return [items[p * len(items) // parts:(p + 1) * len(items) // parts] for p in range(parts)]


def owned_runs(tiles: list[Tile], device: Device | None) -> list[list[Tile]]:
    """The tasks that run ``tiles``.

    On the host, one task per tile: the threads take them in order as they come free, so a worker
    thread that wakes late (a wake-up can take half a millisecond) takes fewer. On a device of
    ``cores`` cores, tasks are contiguous runs (neighbouring tiles share cache lines): core c owns
    tiles ``[c * n // cores, (c + 1) * n // cores)`` of the ``n`` tiles; each task holds tiles of
    one core only. A core's run is split further when there are fewer cores than host threads,
    so that a device of one core still uses the whole host.
    """
    if device is None:
        return [[tile] for tile in tiles]
    core_runs = _runs(tiles, min(device.cores, len(tiles)))
    pieces = -(-THREADS // len(core_runs))
    return [piece for run in core_runs for piece in _runs(run, min(pieces, len(run))) if piece]
