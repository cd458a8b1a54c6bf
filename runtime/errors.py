"""Every error radrt raises on purpose: one hierarchy, one place.

Every message names the thing (model, node, attribute, input, argument), the
value it got, and what was expected. The same facts travel as attributes, so
a caller (the CLI, the link, a campaign) can act on them without parsing
text:

    RadrtError.node       the node name, or None
    RadrtError.attribute  the attribute or input name of that node, or None
    RadrtError.argument   the API or CLI argument name, or None
    RadrtError.value      the offending value (repr-able), or None

Class              exit code (radrt CLI)  raised by
RadrtError                 1              (base; never raised bare)
InvalidArgumentError       2              an API/CLI argument radrt does not understand
  UnknownArgumentError     2              an unknown keyword argument (also a TypeError)
  GatherIndexError         2              run: a fed index (Gather) outside its axis (also an IndexError)
ModelLoadError             3              load: unreadable, corrupt or invalid model
  UnsupportedOpError       3              load/compile: valid ONNX radrt does not run
CompileError               4              compile/plan: shapes, attributes, sizes do not fit
  SizeOverflowError        4              a shape or byte count overflows int64 / size_t
  MemoryBudgetError        4              the plan needs more bytes than max_memory_bytes
UncorrectableUpsetError    5              protection detected an upset it cannot repair
CommandPluginError        70              cli: a registered command (entry point radrt.commands) is broken
"""
from typing import Any, Optional


class RadrtError(Exception):
    """Base class of every error radrt raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, node: Optional[str] = None,
                 attribute: Optional[str] = None, argument: Optional[str] = None,
                 value: Any = None):
        super().__init__(message)
        self.node = node
        self.attribute = attribute
        self.argument = argument
        self.value = value


class InvalidArgumentError(RadrtError, ValueError):
    """An API or CLI argument has a value radrt does not accept (wrong type, range, name)."""

    exit_code = 2


class UnknownArgumentError(InvalidArgumentError, TypeError):
    """A keyword argument radrt does not know (a misspelling must not lower protection)."""


class GatherIndexError(InvalidArgumentError, IndexError):
    """A run-time index of a Gather, computed from the fed inputs, is outside the gathered
    axis: the caller's data is wrong, not the model (no wrong value is returned)."""


class ModelLoadError(RadrtError):
    """The model could not be read, parsed, or is not a valid ONNX model (stage: load)."""

    exit_code = 3


class UnsupportedOpError(ModelLoadError):
    """A valid model uses an op, attribute value or element type radrt does not implement."""


class CompileError(RadrtError):
    """Shapes, attributes or sizes do not fit together (stages: compile, plan)."""

    exit_code = 4


class SizeOverflowError(CompileError):
    """A shape, element count, byte count or index computed from the model overflows."""


class MemoryBudgetError(CompileError):
    """The plan (regions, scratch, compile-time tables) needs more than max_memory_bytes."""


class UncorrectableUpsetError(RadrtError):
    """An upset was detected that the protection could not repair; the result is lost."""

    exit_code = 5


class CommandPluginError(RadrtError):
    """A command registered in the entry point group `radrt.commands` cannot be loaded or
    did not add itself: the installation is broken (exit 70, as any other bug)."""

    exit_code = 70
