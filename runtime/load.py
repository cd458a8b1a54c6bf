"""Stage 1, load: read an ONNX model and reject what radrt cannot run.

`load_model(path_or_bytes)` parses with the `onnx` package and returns a
`LoadedModel`: the ModelProto, its default-domain opset, and its nodes as
plain `Node` objects (attributes decoded to Python and numpy values). The
model is first checked against the ONNX spec (`runtime.validate`). Every op
is checked against the kernel registry and the ops the compile stage folds, so
an unsupported op fails here, naming op type, node name and opset. A model with
float16 tensors is rewritten to compute them in float32 (`runtime.half`).
"""
import os
import stat
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple, Union

import onnx
from onnx import helper, numpy_helper

from . import ops
from .errors import ModelLoadError, UnsupportedOpError
from .half import widen_float16
from .sizes import default_max_memory_bytes
from .validate import load_external_data, validate_model

# Ops the compile stage handles itself: views of their input, folded from
# shapes, or folded from constant inputs. Ops outside the kernel registry
# that may still fold when all their inputs are constants (shape arithmetic).
VIEW_OPS = frozenset({"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout"})
COMPILE_TIME_OPS = frozenset({"Constant", "ConstantOfShape", "Shape", "Size", "If",
                              "LSTM", "GRU", "RNN"})   # unrolled into kernel ops (runtime.rnn)
FOLD_ONLY_OPS = frozenset({
    "Range", "Equal", "Greater", "Less", "GreaterOrEqual", "LessOrEqual", "Not", "And", "Or",
    "Where", "Round", "NonZero", "ScatterND", "CumSum", "Mod", "Sign", "OneHot",
})
DEFAULT_DOMAINS = ("", "ai.onnx")


@dataclass
class Node:
    op_type: str
    name: str
    inputs: List[str]
    outputs: List[str]
    attrs: Dict[str, Any] = field(default_factory=dict)
    opset: int = 0
    proto: Any = None  # the NodeProto, for folding with onnx's reference evaluator
    domain: str = ""  # "" for the default ONNX domain ("ai.onnx" is normalised to ""), else e.g. "com.microsoft"

    def attr(self, key: str, default: Any = None) -> Any:
        return self.attrs.get(key, default)


@dataclass
class LoadedModel:
    proto: onnx.ModelProto
    opset: int
    nodes: List[Node]
    float16_widened: bool = False   # the model's float16 tensors compute in float32 (runtime.half)


def _decode_attr(a: onnx.AttributeProto) -> Any:
    value = helper.get_attribute_value(a)
    if a.type == onnx.AttributeProto.TENSOR:
        return numpy_helper.to_array(value)
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, list) and value and isinstance(value[0], bytes):
        return [v.decode("utf-8") for v in value]
    return value


def to_nodes(graph: onnx.GraphProto, opset: int, prefix: str = "") -> List[Node]:
    nodes = []
    for i, n in enumerate(graph.node):
        name = n.name or f"{prefix}{n.op_type}_{i}"
        nodes.append(Node(n.op_type, name, list(n.input), list(n.output),
                          {a.name: _decode_attr(a) for a in n.attribute}, opset, n,
                          "" if n.domain in DEFAULT_DOMAINS else n.domain))
    return nodes


def read_model_file(what: str, path: Union[str, os.PathLike], max_bytes: int) -> bytes:
    """The bytes of a regular file of at most max_bytes, read with a bound.

    The file is opened non-blocking (a FIFO must not hang the open) and checked
    with fstat on the open descriptor: a device (/dev/zero), FIFO, socket or
    directory, or a file larger than max_bytes, raises ModelLoadError before
    anything is read; at most its size + 1 bytes are ever read (a file that
    grows meanwhile is refused too)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        raise ModelLoadError(f"{what}: cannot read it ({e.strerror})") from e
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = ("a directory" if stat.S_ISDIR(st.st_mode) else "a FIFO" if stat.S_ISFIFO(st.st_mode)
                    else "a character device" if stat.S_ISCHR(st.st_mode)
                    else "a block device" if stat.S_ISBLK(st.st_mode)
                    else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
            raise ModelLoadError(f"{what}: is {kind}, expected a regular file holding a serialized "
                                 f"ONNX ModelProto")
        if st.st_size > max_bytes:
            raise ModelLoadError(f"{what}: {st.st_size} bytes, more than the memory budget of "
                                 f"{max_bytes} bytes (max_memory_bytes)")
        with os.fdopen(fd, "rb") as f:
            fd = None  # closed by f
            data = f.read(st.st_size + 1)  # read(n) allocates n bytes up front: never more
    except OSError as e:
        raise ModelLoadError(f"{what}: cannot read it ({e.strerror})") from e
    finally:
        if fd is not None:
            os.close(fd)
    if len(data) > st.st_size:
        raise ModelLoadError(f"{what}: it grew while being read (more than the {st.st_size} bytes "
                             f"it had when opened)")
    return data


def _read(path_or_bytes: Union[str, bytes, os.PathLike, onnx.ModelProto],
          max_bytes: Optional[int] = None) -> onnx.ModelProto:
    """Parse the model; a path must name a regular file of at most max_bytes
    (None: the default memory budget, runtime.sizes.default_max_memory_bytes())."""
    if isinstance(path_or_bytes, onnx.ModelProto):
        return path_or_bytes
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        what, data = "model bytes", bytes(path_or_bytes)
    else:
        what = f"model file '{os.fspath(path_or_bytes)}'"
        data = read_model_file(what, path_or_bytes, default_max_memory_bytes() if max_bytes is None else max_bytes)
    if not data:
        raise ModelLoadError(f"{what}: empty, expected a serialized ONNX ModelProto")
    try:
        proto = onnx.load_from_string(data)
    except Exception as e:  # protobuf raises DecodeError and friends
        raise ModelLoadError(f"{what}: not a valid ONNX model, the protobuf does not parse "
                             f"(truncated or corrupt?): {e}") from e
    if not proto.graph.node and not proto.graph.output:
        raise ModelLoadError(f"{what}: parsed, but holds no graph (expected nodes and outputs); "
                             "is it an ONNX model?")
    base = None
    if not isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        base = os.path.dirname(os.path.abspath(os.fspath(path_or_bytes)))
    load_external_data(proto, base)
    return proto


def _is_known(op_type: str, domain: str) -> bool:
    if domain not in DEFAULT_DOMAINS:  # contrib ops (com.microsoft): kernels only
        return ops.lookup(op_type, domain) is not None
    return bool(ops.lookup(op_type) or op_type in VIEW_OPS or op_type in COMPILE_TIME_OPS
                or op_type in FOLD_ONLY_OPS)


def unsupported_summary(nodes: List[Tuple[Node, str]], opset: int) -> str:
    """'' when every (node, domain) is known, else one line per unsupported op type."""
    by_op: Dict[str, List[str]] = {}
    for node, domain in nodes:
        if not _is_known(node.op_type, domain):
            key = node.op_type if domain in DEFAULT_DOMAINS else f"{domain}::{node.op_type}"
            by_op.setdefault(key, []).append(node.name)
    if not by_op:
        return ""
    parts = [f"{op} ({len(names)} node{'s' if len(names) > 1 else ''}, first '{names[0]}')"
             for op, names in by_op.items()]
    return (f"unsupported op{'s' if len(parts) > 1 else ''} at opset {opset}: {', '.join(parts)}. "
            f"radrt supports: {', '.join(supported_ops())}")


def supported_ops() -> List[str]:
    return sorted(set(ops.REGISTRY) | VIEW_OPS | COMPILE_TIME_OPS)


def load_model(path_or_bytes, max_bytes: Optional[int] = None) -> LoadedModel:
    """Read, validate against the ONNX spec (runtime.validate) and check op support.

    max_bytes bounds a model file's size (None: the default memory budget).

    Raises ModelLoadError for an unreadable or invalid model, UnsupportedOpError
    for a valid model that uses an op radrt does not run.
    """
    proto = _read(path_or_bytes, max_bytes)
    opset = validate_model(proto)
    original = proto
    proto = widen_float16(proto)   # float16 tensors compute in float32 (runtime.half)
    nodes = to_nodes(proto.graph, opset)
    checked = []
    for proto_node, node in zip(proto.graph.node, nodes):
        checked.append((node, proto_node.domain))
        for g in (v for v in node.attrs.values() if isinstance(v, onnx.GraphProto)):
            checked.extend((sub, sp.domain) for sp, sub in
                           zip(g.node, to_nodes(g, opset, prefix=node.name + "/")))
    problem = unsupported_summary(checked, opset)
    if problem:
        raise UnsupportedOpError(problem)
    return LoadedModel(proto, opset, nodes, float16_widened=proto is not original)
