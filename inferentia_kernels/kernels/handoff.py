"""Handing work to a worker thread that spins while idle, in compiled code: the worker waits
without the GIL, and a caller's kernel can post the work once the caller has released the GIL
itself, so that the worker never sleeps on the interpreter lock (a sleeping vCPU takes 0.1 ms
or more to wake up through the hypervisor).

A worker's state vector (int64, a cache line) holds its state at [0] (``SPINNING``,
``SLEEPING``, ``ARMED``, ``POSTED``), which the worker and its callers change only by
compare-and-exchange, and at [1] the count of functions it has finished, which it publishes
once it has released the GIL, so that a caller that waits for it by spinning can take the GIL
back at once (``ops._workers`` has the protocol).
"""

from __future__ import annotations

from .atomics import compare_exchange, compare_exchange_at, load_acquire, spin_pause
from .jit import kernel

__all__ = ["ARMED", "POSTED", "SLEEPING", "SPINNING", "post_all", "swap_state", "wait_for_finished", "wait_for_post"]

#: Idle, spinning in ``wait_for_post``.
SPINNING = 0
#: Idle, asleep on a lock (or about to be): a caller wakes it through the lock.
SLEEPING = 1
#: Given work that a caller will post soon: keeps spinning.
ARMED = 2
#: Given work to run now.
POSTED = 3


@kernel
def wait_for_post(state, finished, pauses):
    """Publish ``finished`` in ``state[1]``, then spin (pause instructions) until ``state[0]`` is
    ``POSTED``, for at most ``pauses`` rounds; return the state last read."""
    state[1] = finished
    for _ in range(pauses):
        current = load_acquire(state, 0)
        if current == POSTED:
            return current
        spin_pause()
    return load_acquire(state, 0)


@kernel
def wait_for_finished(state, finished, pauses):
    """Spin until ``state[1]`` is ``finished``, for at most ``pauses`` rounds; whether it is."""
    for _ in range(pauses):
        if load_acquire(state, 1) == finished:
            return True
        spin_pause()
    return load_acquire(state, 1) == finished


@kernel(nogil=False)
def swap_state(state, expected, desired):
    """``state[0] = desired`` if it is ``expected`` (atomically); whether it was. Keeps the GIL:
    releasing it for so short a call could hand it to a thread waiting for it."""
    return compare_exchange(state, 0, expected, desired)


@kernel(inline="always")
def post_all(addresses):
    """Post the work of every armed worker whose state word is at one of ``addresses`` (int64)."""
    for i in range(addresses.shape[0]):
        compare_exchange_at(addresses[i], ARMED, POSTED)
