"""Error classes raised for bad input.

Every error names the function, the argument, what was expected and what was given::

    quantize: x must be a floating-point array, got dtype int32

The classes subclass the built-in ``TypeError`` / ``ValueError`` so that callers can catch
either the specific class or the built-in one.
"""

from __future__ import annotations

__all__ = [
    "AccumulatorOverflowWarning",
    "InferentiaKernelsError",
    "InvalidArgumentError",
    "InvalidDtypeError",
    "ShapeMismatchError",
    "describe",
    "invalid",
    "wrong_dtype",
]


class InferentiaKernelsError(Exception):
    """Base class of every error this package raises on purpose."""


class InvalidArgumentError(InferentiaKernelsError, ValueError):
    """An argument has the right type but an unacceptable value."""


class InvalidDtypeError(InferentiaKernelsError, TypeError):
    """An argument has the wrong type or dtype."""


class ShapeMismatchError(InvalidArgumentError):
    """Shapes of two or more arguments do not fit together."""


def describe(value: object) -> str:
    """A short description of ``value`` for error messages: dtype and shape for arrays."""
    dtype = getattr(value, "dtype", None)
    shape = getattr(value, "shape", None)
    if dtype is not None and shape is not None:
        return f"array of dtype {dtype} and shape {tuple(shape)}"
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{text} ({type(value).__name__})"


def invalid(function: str, argument: str, expected: str, got: object) -> InvalidArgumentError:
    """Build an :class:`InvalidArgumentError` with the standard message."""
    return InvalidArgumentError(f"{function}: {argument} must be {expected}, got {got}")


def wrong_dtype(function: str, argument: str, expected: str, got: object) -> InvalidDtypeError:
    """Build an :class:`InvalidDtypeError` with the standard message."""
    return InvalidDtypeError(f"{function}: {argument} must be {expected}, got {got}")


class AccumulatorOverflowWarning(RuntimeWarning):
    """The int32 accumulator may wrap around for these shapes and zero points."""
