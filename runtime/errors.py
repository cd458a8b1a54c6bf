"""Exceptions a radrt user can catch, one per pipeline stage or failure kind.

Every message names the thing (model, node, input), the value it got, and what
was expected.
"""


class RadrtError(Exception):
    """Base class of every error radrt raises on purpose."""


class ModelLoadError(RadrtError):
    """The model file or bytes could not be read or parsed (stage: load)."""


class UnsupportedOpError(RadrtError):
    """The model uses an op (or an attribute of one) radrt does not implement."""


class CompileError(RadrtError):
    """Shapes or attributes do not fit together (stage: compile)."""


class UncorrectableUpsetError(RadrtError):
    """An upset was detected that the protection could not repair; the result is lost."""
