"""Checked size arithmetic: the one place shapes become element, byte and scratch counts.

The C core indexes memory with int64_t and size_t, so every count that reaches
it must fit in int64 (`INT64_MAX`; size_t is at least as wide). numpy's
`np.prod(shape, dtype=np.int64)` silently wraps (2^31 * 2^31 * 4 gives 0), so
this module computes on Python integers, which never overflow, and range-checks
each result. Everything that multiplies or adds dimensions at compile and plan
time goes through here:

    element_count(shape, what, node)     product of dims, dims >= 0 (and of the dims other
                                         than 0, so strides fit even in an empty tensor)
    nbytes(shape, dtype, what, node)     element_count * itemsize
    checked_mul(*factors, what=, node=)  product of ints, result in [0, INT64_MAX]
    checked_add(*terms, what=, node=)    sum of ints, result in [0, INT64_MAX]
    checked_int64(value, what, node)     one signed value in [INT64_MIN, INT64_MAX]
    window_output_dim(...)               conv/pool output size, range-checked
    check_window_reach(...)              every address a sliding window forms fits int64
    check_tensor(node, shape, dtype, what)  count and bytes of a tensor, and the budget
    check_table(node, entries, itemsize, what)  a compile-time table, before it is built
    check_c_fields(node, fields, what)   every int of a C argument struct fits int64
    c_scratch_floats(node, floats, what) a C scratch-size result, refused if C saw overflow

Errors: a negative dimension is a `CompileError`; a result outside int64 is a
`SizeOverflowError`; a tensor (or scratch) larger than the memory budget is a
`MemoryBudgetError`. Each names the node, the tensor or attribute, and the value.

Memory budget: `compile_graph` runs op preparation inside `memory_budget(n)`,
so `check_tensor` refuses, as soon as an op knows an output shape and before it
builds any table indexed by it, a tensor above the budget. The plan then checks
the total of its regions (runtime.plan). The default budget is
`DEFAULT_BUDGET_SHARE` (50 %) of physical memory (`default_max_memory_bytes`).
"""
import contextlib
import contextvars
import os
from typing import Any, Iterator, Optional, Sequence

import numpy as np

from .arguments import check_integer
from .errors import CompileError, InvalidArgumentError, MemoryBudgetError, SizeOverflowError

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1
SIZE_MAX = (1 << 64) - 1  # what the C scratch-size functions return when they overflow
DEFAULT_BUDGET_SHARE = 0.5  # of physical memory

_budget: contextvars.ContextVar = contextvars.ContextVar("radrt_max_memory_bytes", default=None)


def _name(node) -> Optional[str]:
    """A node object (with .name) or a name string, or None."""
    if node is None or isinstance(node, str):
        return node
    return getattr(node, "name", None)


def _where(node) -> str:
    if node is None:
        return ""
    if isinstance(node, str):
        return f"node '{node}': "
    return f"{node.op_type} node '{node.name}': "


def _overflow(node, what: str, value: Any) -> SizeOverflowError:
    return SizeOverflowError(f"{_where(node)}{what} is {value}, which overflows int64 "
                             f"(expected at most {INT64_MAX})", node=_name(node), attribute=what,
                             value=value)


def _int(value, what: str, node) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise CompileError(f"{_where(node)}{what} is {value!r} of type {type(value).__name__}, "
                           f"expected an integer", node=_name(node), attribute=what, value=value)
    return int(value)


def checked_int64(value, what: str, node=None) -> int:
    """`value` as a Python int if it fits a C int64_t, else SizeOverflowError."""
    v = _int(value, what, node)
    if not INT64_MIN <= v <= INT64_MAX:
        raise _overflow(node, what, v)
    return v


def checked_count(value, what: str, node=None) -> int:
    """A count or size: a Python int in [0, INT64_MAX]."""
    v = _int(value, what, node)
    if v < 0:
        raise CompileError(f"{_where(node)}{what} is {v}, expected a non-negative size",
                           node=_name(node), attribute=what, value=v)
    if v > INT64_MAX:
        raise _overflow(node, what, v)
    return v


def checked_mul(*factors, what: str, node=None) -> int:
    """The product of non-negative ints, in [0, INT64_MAX]."""
    out = 1
    for f in factors:
        out *= checked_count(f, what, node)
    return checked_count(out, what, node)


def checked_add(*terms, what: str, node=None) -> int:
    """The sum of ints (any sign), in [0, INT64_MAX]."""
    return checked_count(sum(_int(t, what, node) for t in terms), what, node)


def element_count(shape: Sequence[int], what: str = "tensor", node=None) -> int:
    """Elements of a tensor of `shape`: every dim >= 0 (else CompileError), product <= INT64_MAX."""
    dims = [_int(d, what, node) for d in shape]
    negative = [d for d in dims if d < 0]
    if negative:
        raise CompileError(f"{_where(node)}{what}: shape {tuple(dims)} has negative dimension "
                           f"{negative[0]}, expected dimensions >= 0", node=_name(node),
                           attribute=what, value=tuple(dims))
    count = _span(dims)
    if count > INT64_MAX:
        raise _overflow(node, f"the element count of {what} (shape {tuple(dims)})", count)
    return count if 0 not in dims else 0


def _span(dims) -> int:
    """Product of the dims other than 0: the largest stride of the shape, which must fit
    int64 even when a 0 dim makes the tensor empty (numpy refuses such a shape too)."""
    out = 1
    for d in dims:
        out *= d or 1
    return out


def nbytes(shape: Sequence[int], dtype, what: str = "tensor", node=None) -> int:
    """Bytes of a tensor of `shape` and `dtype`, in [0, INT64_MAX]. Also the byte span of
    its dims other than 0 (its largest byte stride) must fit int64."""
    count = element_count(shape, what, node)
    itemsize = np.dtype(dtype).itemsize
    span = _span(shape) * itemsize
    if span > INT64_MAX:
        raise _overflow(node, f"the byte size of {what} (shape {tuple(shape)}, "
                              f"{np.dtype(dtype).name})", span)
    return count * itemsize


def window_output_dim(size: int, pad_begin: int, pad_end: int, kernel: int, dilation: int,
                      stride: int, ceil_mode: bool = False, what: str = "output", node=None) -> int:
    """Output length of a sliding window (Conv, pooling), computed on Python ints:

        extent = (kernel - 1) * dilation + 1
        out    = floor_or_ceil((size + pad_begin + pad_end - extent) / stride) + 1

    The result may be < 1 (the caller says why that is wrong for its op); a result
    above INT64_MAX is a SizeOverflowError. Arguments are ints; stride >= 1."""
    span = (_int(size, what, node) + _int(pad_begin, what, node) + _int(pad_end, what, node)
            - ((_int(kernel, what, node) - 1) * _int(dilation, what, node) + 1))
    s = _int(stride, what, node)
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if out > INT64_MAX:
        raise _overflow(node, what, out)
    return out


def check_window_reach(node, axis: int, size: int, pad_begin: int, pad_end: int, out: int, kernel: int,
                       dilation: int, stride: int) -> None:
    """A kernel forms o*stride - pad_begin + k*dilation for every output o and tap k, and
    frames the input in size + pads: both must fit int64 (C computes them in int64_t)."""
    checked_add(size, max(pad_begin, 0), max(pad_end, 0),
                what=f"padded input extent of spatial axis {axis}", node=node)
    checked_add(checked_mul(max(out - 1, 0), stride, what=f"window reach of spatial axis {axis}", node=node),
                checked_mul(kernel - 1, dilation, what=f"window reach of spatial axis {axis}", node=node), 1,
                what=f"window reach of spatial axis {axis}", node=node)


# ---- memory budget ------------------------------------------------------------------

def default_max_memory_bytes() -> int:
    """DEFAULT_BUDGET_SHARE of physical memory (SC_PAGE_SIZE * SC_PHYS_PAGES), in bytes."""
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError) as e:
        raise InvalidArgumentError(f"max_memory_bytes: physical memory size is unknown on this "
                                   f"system ({e}); give max_memory_bytes=<bytes>",
                                   argument="max_memory_bytes") from e
    return max(1, int(physical * DEFAULT_BUDGET_SHARE))


def resolve_budget(max_memory_bytes) -> int:
    """The budget in bytes: an int > 0, or None for the default share of physical memory
    (DEFAULT_BUDGET_SHARE); InvalidArgumentError otherwise."""
    if max_memory_bytes is None:
        return default_max_memory_bytes()
    return check_integer("max_memory_bytes", max_memory_bytes, 1)


@contextlib.contextmanager
def memory_budget(max_bytes: int) -> Iterator[int]:
    """Within the block, `check_tensor` and `check_bytes` refuse anything above max_bytes."""
    token = _budget.set(int(max_bytes))
    try:
        yield int(max_bytes)
    finally:
        _budget.reset(token)


def current_budget() -> Optional[int]:
    return _budget.get()


def check_bytes(node, count: int, what: str, budget: Optional[int] = None) -> int:
    """`count` bytes checked against int64 and the budget (the current one if not given)."""
    count = checked_count(count, what, node)
    budget = current_budget() if budget is None else budget
    if budget is not None and count > budget:
        raise MemoryBudgetError(f"{_where(node)}{what} needs {count} bytes, above the memory "
                                f"budget of {budget} bytes (max_memory_bytes)", node=_name(node),
                                attribute=what, value=count)
    return count


def check_tensor(node, shape: Sequence[int], dtype, what: str) -> int:
    """Bytes of a tensor an op will produce or read, checked (dims, int64, budget)."""
    return check_bytes(node, nbytes(shape, dtype, what, node), f"{what} (shape {tuple(shape)})")


def check_table(node, entries: int, itemsize: int, what: str) -> int:
    """Bytes of a compile-time table (pad/resize index tables, pool window rows) of
    `entries` items, checked before it is built. A table is indexed by dims of a tensor,
    and a tensor with one dim 0 has 0 bytes whatever its other dims: so the table is
    checked itself, not only the tensor."""
    return check_bytes(node, checked_mul(entries, itemsize, what=what, node=node), what)


# ---- values handed to C ------------------------------------------------------------

def check_c_fields(node, fields, what: str = "kernel parameters"):
    """Every int inside `fields` (a dict/list tree for ffi.new) fits a C int64_t;
    returns `fields` unchanged. Floats and cffi pointers pass through."""
    def walk(value, path):
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{path}.{k}")
        elif isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                walk(v, f"{path}[{i}]")
        elif isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            checked_int64(value, path, node)
    walk(fields, what)
    return fields


def c_scratch_floats(node, floats: int, what: str = "scratch") -> int:
    """Scratch bytes from a C `*_scratch_floats` result. Those functions compute with
    overflow checks and return SIZE_MAX when a product or sum does not fit."""
    return _c_scratch(node, floats, 4, "floats", what)


def c_scratch_bytes(node, nbytes: int, what: str = "scratch") -> int:
    """Scratch bytes from a C `*_scratch_bytes` result (SIZE_MAX on overflow, as above)."""
    return _c_scratch(node, nbytes, 1, "bytes", what)


def _c_scratch(node, units: int, unit_bytes: int, unit: str, what: str) -> int:
    units = int(units)
    if units >= SIZE_MAX:
        raise SizeOverflowError(f"{_where(node)}{what}: its size in {unit} overflows int64 (a product or "
                                f"sum in the kernel's size arithmetic is above {INT64_MAX})",
                                node=_name(node), attribute=what, value=units)
    return check_bytes(node, checked_mul(units, unit_bytes, what=f"{what} size (bytes)", node=node), what)
