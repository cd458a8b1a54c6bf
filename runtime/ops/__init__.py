"""Op registry: each module in this package registers the ONNX ops it implements.

An op's `prepare(node, inputs)` runs once at compile time. It receives the
node (`runtime.load.Node`: op_type, domain, name, attrs, inputs, outputs) and one
`TensorInfo` per input (shape, dtype and, for constants, the value), checks
everything the C kernel will trust, and returns a `Prepared`:

- `outputs`: one `TensorInfo` per node output;
- `invoke(lib, ins, outs, consts, scratch)`: called when the plan is bound
  to memory; it returns `(c_function, args)` and the executor later calls
  `c_function(*args)` with nothing else in between. `ins`/`outs` are `void *`
  pointers into the regions (NULL for an omitted optional input), `consts`
  are pointers to the arrays in `Prepared.constants` (weights re-laid out for
  the kernel, copied into the weights region), `scratch` points to
  `Prepared.scratch_bytes` of arena memory that lives for this step only
  (NULL when 0): kernels never allocate;
- `flops`: multiply-adds count twice; used by `radrt inspect`;
- `abft`: for Conv, Gemm and MatMul with constant weights, the `AbftSpec` of
  the checksums fused into the GEMM (csrc/kernels/gemm.h) or into the depthwise
  conv (csrc/kernels/conv.c), and for the integer products with constant weights
  (QLinearConv, ConvInteger, QLinearMatMul, MatMulInteger, QGemm) of their exact
  checksums (csrc/kernels/integer.h); the invoke then
  takes a keyword `abft=` (a cffi `radrt_abft *`, see `abft_struct`, or None
  for the unchecked call). None for every other op and case.

Sizes: every element, byte and scratch count is computed with `runtime.sizes`
(Python ints, range-checked against int64; `np.prod` on a shape silently
wraps), and an op makes each output's `TensorInfo` with `output_info` as soon
as it knows the shape, before it builds a table or scratch sized by it: that
checks the dims, int64 and the memory budget (SizeOverflowError,
MemoryBudgetError naming the node and the output).

There is one way to add an op: write `runtime/ops/NAME.py` with a
`@register("OpType")` function and, if it needs new C, `csrc/kernels/NAME.{h,c}`.
An op of another domain registers with `domain=` (`@register("QLinearAdd",
domain="com.microsoft")`, key "com.microsoft::QLinearAdd"); `lookup(op_type, domain)`
finds it, and only for a node of that domain.
"""
import importlib
import math
import pkgutil
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Tuple

import numpy as np

from .. import sizes
from ..errors import CompileError, UnsupportedOpError


@dataclass
class TensorInfo:
    shape: Tuple[int, ...]
    dtype: np.dtype
    value: Optional[np.ndarray] = None  # set for constants only

    @property
    def size(self) -> int:
        """Element count; CompileError for a negative dim, SizeOverflowError above int64."""
        return sizes.element_count(self.shape)

    @property
    def nbytes(self) -> int:
        """Byte count; CompileError for a negative dim, SizeOverflowError above int64."""
        return sizes.nbytes(self.shape, self.dtype)

    @property
    def rank(self) -> int:
        return len(self.shape)


# Threshold scale lambda of the ABFT tolerance (csrc/kernels/gemm.h): the engine's
# choice, this is radrt's recommendation. Clean products measured by
# csrc/tests/test_abft.c: worst |observed - expected| / tol 0.056 on random data
# (random, constant input, cancelling weights, scaled 1e-3 and 1e3), 0.77 when both
# operands are constant (systematic rounding, growing as sqrt(K) / (4 lambda)).
# Depthwise convs (csrc/tests/test_abft_dw.c, same rule): 0.075 on random data, 0.070
# on constant input planes.
ABFT_LAMBDA = 4.0


@dataclass(frozen=True)
class AbftSpec:
    """The ABFT checksums of one Conv/Gemm/MatMul step (csrc/kernels/gemm.h) or
    integer product (csrc/kernels/integer.h).

    side: lib.RADRT_ABFT_COLUMNS (Conv: the weights are A, one checksum per
    output position and image and group), lib.RADRT_ABFT_ROWS (Gemm/MatMul:
    the constant B, one checksum per output row and product),
    lib.RADRT_ABFT_DEPTHWISE (depthwise Conv: one checksum per image and output
    channel, predicted from the taps as read and window sums of the input) or
    lib.RADRT_ABFT_EXACT (an integer product: exact int32 checksums, no
    threshold; wsum is then the index of the int32 golden sums, radrt_abft.isum,
    wabs None, bias_sum/bias_abs empty, work_floats 0, packed_weights None).
    K: inner GEMM size (depthwise: taps per output); groups: GEMM groups (Conv
    group, else 1).
    wsum, wabs: indices into Prepared.constants of float32 arrays of groups*K
    values (group g at g*K): the sums along the checksum direction of the final
    constant weights the kernel packs and of their absolute values, computed in
    float64 and rounded; they live in the weights region like the packed weights.
    None (depthwise): the struct gets NULL.
    bias_sum, bias_abs: per group, the golden sum of the bias term along the
    checksum direction and of its |.|, as floats (0.0 without bias; empty for
    depthwise, whose kernel reads the bias itself).
    work_floats: floats of the caller-owned work buffer.
    checksums: checksums one invoke compares when the data are finite: after one
    clean call, radrt_abft.checked == checksums and exceeded == 0.
    packed_weights: index into Prepared.constants of the pre-packed weight operand
    the kernel seals as it reads it (radrt_abft.wseal), or None when the kernel
    reads its weights raw from a node input (depthwise): no wseal then, and the
    engine verifies that input by its seal like any other weights-region read.
    """
    side: int
    K: int
    groups: int
    wsum: Optional[int]
    wabs: Optional[int]
    bias_sum: Tuple[float, ...]
    bias_abs: Tuple[float, ...]
    work_floats: int
    checksums: int
    packed_weights: Optional[int] = 0


def weight_checksums(mats: np.ndarray, axis: int) -> Tuple[np.ndarray, np.ndarray]:
    """(wsum, wabs) float32 of a stack of weight matrices (groups, rows, cols) summed
    over `axis` (1: over rows, one value per column; 2: over columns), in float64."""
    w = np.asarray(mats, np.float64)
    return (w.sum(axis=axis).astype(np.float32).reshape(-1),
            np.abs(w).sum(axis=axis).astype(np.float32).reshape(-1))


def abft_struct(ffi, spec: AbftSpec, consts, lam: float = ABFT_LAMBDA):
    """A zeroed cffi `radrt_abft *` for `spec`, reading wsum/wabs through the step's
    constant pointers `consts` (NULL when the spec has none), and the objects it points
    to (keep them alive as long as the struct). The results (checked, exceeded,
    nonfinite, worst) accumulate over calls; zero them between runs. work is a
    cffi-allocated float array (malloc alignment: the depthwise kernel reads it as
    doubles)."""
    def const(index):
        return ffi.NULL if index is None else ffi.cast("const float *", consts[index])

    bias_sum = ffi.new("float[]", list(spec.bias_sum)) if spec.bias_sum else ffi.NULL
    bias_abs = ffi.new("float[]", list(spec.bias_abs)) if spec.bias_abs else ffi.NULL
    work = ffi.new("float[]", max(spec.work_floats, 1))
    from .._core import lib
    exact = spec.side == lib.RADRT_ABFT_EXACT
    sums = dict(isum=ffi.NULL if spec.wsum is None else ffi.cast("const int32_t *", consts[spec.wsum])) if exact \
        else dict(wsum=const(spec.wsum), wabs=const(spec.wabs))
    ck = ffi.new("radrt_abft *", dict(side=spec.side, bias_sum=bias_sum, bias_abs=bias_abs, work=work,
                                      **sums, **{"lambda": lam}))
    return ck, (bias_sum, bias_abs, work)


@dataclass
class Prepared:
    outputs: List[TensorInfo]
    invoke: Callable
    flops: int = 0
    constants: List[np.ndarray] = field(default_factory=list)
    scratch_bytes: int = 0
    # Indices of node inputs the kernel does not read (their data may be
    # dropped from the weights region when nothing else reads them).
    unread_inputs: Tuple[int, ...] = ()
    abft: Optional[AbftSpec] = None


PrepareFn = Callable[..., Prepared]
REGISTRY: dict = {}

FLOAT32 = np.dtype(np.float32)


def op_key(op_type: str, domain: str = "") -> str:
    """The registry key of an op: its op_type in the default domain ("" or "ai.onnx"),
    else "domain::op_type" (e.g. "com.microsoft::QLinearAdd"), so a contrib op never
    answers for a default-domain op of the same name."""
    return op_type if domain in ("", "ai.onnx") else f"{domain}::{op_type}"


def register(*op_types: str, domain: str = ""):
    def wrap(fn: PrepareFn) -> PrepareFn:
        for op in op_types:
            key = op_key(op, domain)
            if key in REGISTRY:
                raise RuntimeError(f"op {key} registered twice")
            REGISTRY[key] = fn
        return fn

    return wrap


def lookup(op_type: str, domain: str = "") -> Optional[PrepareFn]:
    return REGISTRY.get(op_key(op_type, domain))


# ---- helpers shared by op modules -------------------------------------------

def node_error(node, message: str, **context) -> CompileError:
    """CompileError naming the node; `context` (attribute=, value=) travels on the error."""
    return CompileError(f"{node.op_type} node '{node.name}': {message}", node=node.name, **context)


def unsupported(node, message: str, **context) -> UnsupportedOpError:
    return UnsupportedOpError(f"{node.op_type} node '{node.name}': {message}", node=node.name, **context)


def require_float32(node, *infos: TensorInfo) -> None:
    for i, info in enumerate(infos):
        if np.dtype(info.dtype) != FLOAT32:
            raise unsupported(node, f"input {i} has dtype {np.dtype(info.dtype).name}, radrt kernels support float32 only")


def require_rank(node, info: TensorInfo, ranks, what: str = "input") -> None:
    if info.rank not in ranks:
        raise node_error(node, f"{what} has shape {info.shape}, expected rank {' or '.join(map(str, ranks))}")


def require_constant(node, info: Optional[TensorInfo], what: str) -> np.ndarray:
    if info is None or info.value is None:
        raise unsupported(node, f"{what} must be a constant (an initializer or computable at compile time)")
    return info.value


def require_ints(node, info: Optional[TensorInfo], what: str) -> List[int]:
    """A constant integer vector input (shape, axes, pads, starts, sizes, split, repeats):
    its values as Python ints. The spec types these inputs int64 (some int32) and 1-D;
    a float, NaN or a tensor of another rank is a CompileError, never truncated."""
    value = require_constant(node, info, what)
    if not np.issubdtype(value.dtype, np.integer):
        raise node_error(node, f"{what} has dtype {value.dtype.name}, expected int64 (or int32)",
                         value=value.dtype.name)
    if value.ndim != 1:
        raise node_error(node, f"{what} has shape {value.shape}, expected a 1-D tensor", value=value.shape)
    return [int(v) for v in value]


# Attribute the compile stage sets to fuse a Relu/Clip into the op that feeds it:
# (lo, hi), with -inf/+inf for no bound. Ops that honour it read `fused_clamp`.
FUSED_CLIP = "_fused_clip"


def fused_clamp(node) -> Tuple[float, float]:
    clip = node.attr(FUSED_CLIP)
    if clip is None:
        return -math.inf, math.inf
    lo, hi = (float(v) for v in clip)
    if math.isnan(lo) or math.isnan(hi) or lo > hi:
        raise node_error(node, f"fused clip bounds {clip} are not an interval lo <= hi")
    return lo, hi


def output_info(node, shape, dtype, index: int = 0) -> TensorInfo:
    """TensorInfo of output `index`, its size checked (dims >= 0, int64, memory budget).
    Ops call it as soon as they know an output shape, before building anything sized by it."""
    shape = tuple(int(d) for d in shape)
    name = node.outputs[index] if index < len(node.outputs) and node.outputs[index] else str(index)
    sizes.check_tensor(node, shape, dtype, f"output '{name}'")
    return TensorInfo(shape, np.dtype(dtype))


def count(node, shape, what: str) -> int:
    """Checked element count of `shape` (a tensor or part of one) for node."""
    return sizes.element_count(shape, what, node)


def normalize_axis(node, axis: int, rank: int) -> int:
    """`axis` in [-rank, rank) as an index in [0, rank); CompileError otherwise (a scalar,
    rank 0, has no axis at all)."""
    if not -rank <= axis < rank:
        why = " (a scalar has no axes)" if rank == 0 else f", expected {-rank} <= axis < {rank}"
        raise node_error(node, f"axis {axis} is out of range for rank {rank}{why}", value=axis)
    return axis % rank


def _import_all() -> None:
    for mod in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{mod.name}")


_import_all()
