"""Objects that repeated calls can share: a least-recently-used map keyed by operand identities."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["Recent"]

T = TypeVar("T")


class Recent(Generic[T]):
    """At most ``size`` objects made from calls' operands, the least recently used dropped first.

    A key may name operands by ``id``: the entry then keeps those operands (``keep``) alive, so no
    other object can take their address while the key is in the map. Thread-safe; two threads
    that miss the same key at once both make the object, and the later one is kept."""

    def __init__(self, size: int):
        self._size = size
        self._items: OrderedDict[Hashable, tuple[tuple, T]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, keep: tuple, make: Callable[[], T]) -> T:
        """The object kept under ``key``, else ``make()``, kept with the objects ``keep``."""
        with self._lock:
            entry = self._items.get(key)
            if entry is not None:
                self._items.move_to_end(key)
                return entry[1]
        made = make()
        with self._lock:
            self._items[key] = (keep, made)
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return made

    def __len__(self) -> int:
        return len(self._items)
