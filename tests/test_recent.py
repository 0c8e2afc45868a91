"""ops._recent.Recent: the least recently used entry goes first; kept operands stay alive."""

from __future__ import annotations

import gc
import weakref

from inferentia_kernels.ops._recent import Recent


class Operand:
    pass


def test_the_least_recently_used_entry_goes_first():
    recent, made = Recent(2), []

    def make(name):
        return lambda: made.append(name) or name

    for name in ("a", "b", "a", "c", "a", "b"):
        assert recent.get(name, (), make(name)) == name
    # "a" was used again before "c" came, so "b" went; "a" again, so "b" coming back pushed out "c"
    assert made == ["a", "b", "c", "b"] and len(recent) == 2


def test_an_entry_keeps_the_operands_its_key_names_by_id_alive():
    recent, operand = Recent(1), Operand()
    alive = weakref.ref(operand)
    key = id(operand)
    recent.get(key, (operand,), lambda: "made")
    del operand
    gc.collect()
    assert alive() is not None  # so no new object can take its address while the key is in use
    recent.get("other", (), lambda: "other")  # pushes the entry out
    gc.collect()
    assert alive() is None
