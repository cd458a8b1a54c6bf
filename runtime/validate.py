"""Stage 1, load: check a parsed model against the ONNX spec before radrt trusts it.

`validate_model(proto)` runs these checks in order, clearest message first, and
raises `ModelLoadError` naming the node, attribute, value or tensor and the rule:

1. versions: IR version in 1..onnx.IR_VERSION; exactly one default-domain opset
   import (IR >= 3) with a version in 1..onnx.defs.onnx_opset_version().
2. tensors: every initializer and every tensor attribute (also in subgraphs) has
   a known element type and holds exactly the bytes its dims declare, in the one
   field that element type uses. Sizes are compared as Python ints before any
   array is built, so a declared (1e6, 1e6, 3, 3) with 4 values allocates nothing.
3. SSA: every value is defined once, by a graph input, an initializer (which may
   also be listed as a graph input) or a node output; a subgraph may not redefine
   a name of an enclosing graph.
4. schemas: each default-domain node against `onnx.defs.get_schema(op, opset)`:
   the op exists at that opset, every attribute is known and has exactly the
   schema's type (never coerced), required attributes are present, and the
   input and output counts fit the schema of that opset; a Constant has exactly
   one value attribute.
5. `onnx.checker.check_model` (without `full_check`) for everything else the
   spec says (topological order, value infos, metadata, functions).
6. graph inputs and outputs are tensors (a sequence, map or optional is named:
   UnsupportedOpError), then element types, in node order, also inside If/Loop
   bodies: each value's type comes from its declaration, initializer or
   producer (the schema's output type variable, Cast's `to`, Constant's value,
   an If's branch outputs; unknown otherwise, and then not checked). A node
   input of known type must be one its schema's type constraint allows, inputs
   sharing a type variable must agree (Slice starts/ends: Tind), declared
   output, value_info and input-default types must be the produced ones, and
   both If branches return as many values as the node has outputs, even when
   the condition is a constant. Only element types: no shapes are inferred.

Shapes are not inferred here. onnx's strict shape inference (`full_check`)
accepts every model of the conformance manifest and the light models, but the
compile stage computes every shape itself and must check it anyway; it raises
`CompileError`/`SizeOverflowError` naming the node (BatchNormalization
parameters, Reshape targets, overflowing pads), which strict inference would
pre-empt with a less specific message.

`load_external_data(proto, base_dir)` reads tensors stored in external files
(only inside `base_dir`, only the bytes declared) before step 2.

Three checker rules are relaxed, as onnxruntime relaxes them: main-graph inputs
and outputs need not carry a shape (a tensor without one is dynamic), outputs
need not carry a type (they take their producer's), and an
IR-3 model's initializers need not be listed as graph inputs. The checker sees
the main graph's initializers without their data (step 2 checked them).
"""
import math
import os
from collections import ChainMap
from typing import Dict, Iterator, Mapping, Optional, Tuple

import onnx
from google.protobuf.message import Message
from onnx import AttributeProto, TensorProto, defs, helper

from .errors import ModelLoadError, UnsupportedOpError

DEFAULT_DOMAINS = ("", "ai.onnx")

_TYPED_FIELDS = ("float_data", "int32_data", "string_data", "int64_data", "double_data", "uint64_data")
# Element types packed below one byte: bits per element in raw_data; in int32_data
# the 4- and 2-bit types are packed too (2 and 4 per value), the 6-bit ones are not.
_SUB_BYTE_BITS = {getattr(TensorProto, n): bits for n, bits in (
    ("INT4", 4), ("UINT4", 4), ("FLOAT4E2M1", 4), ("INT2", 2), ("UINT2", 2),
    ("FLOAT6E2M3", 6), ("FLOAT6E3M2", 6)) if hasattr(TensorProto, n)}
_COMPLEX = {TensorProto.COMPLEX64, TensorProto.COMPLEX128}


def _raw_bytes(data_type: int, count: int) -> int:
    """Bytes of `count` elements in raw_data or external data (Python ints: exact)."""
    bits = _SUB_BYTE_BITS.get(data_type) or helper.tensor_dtype_to_np_dtype(data_type).itemsize * 8
    return -(-count * bits // 8)


def _typed_values(data_type: int, count: int) -> int:
    """Values `count` elements take in their typed field (float_data, int32_data, ...)."""
    if data_type in _COMPLEX:
        return 2 * count
    bits = _SUB_BYTE_BITS.get(data_type, 8)
    return -(-count * bits // 8) if bits in (2, 4) else count


# ---- 1. versions ---------------------------------------------------------------

def check_versions(proto: onnx.ModelProto) -> int:
    """The default-domain opset after checking IR version and opset imports."""
    ir, newest_ir = proto.ir_version, onnx.IR_VERSION
    if not 1 <= ir <= newest_ir:
        raise ModelLoadError(f"model IR version {ir} is not supported: expected 1..{newest_ir} "
                             f"(the newest the installed onnx {onnx.__version__} knows)", value=ir)
    seen: Dict[str, int] = {}
    for imp in proto.opset_import:
        domain = "" if imp.domain == "ai.onnx" else imp.domain
        if domain in seen:
            raise ModelLoadError(f"model imports domain '{imp.domain or 'ai.onnx'}' twice "
                                 f"(opsets {seen[domain]} and {imp.version})")
        seen[domain] = imp.version
    if ir < 3:
        if proto.opset_import:
            raise ModelLoadError(f"model IR version {ir} < 3 must not have opset_import, it has "
                                 f"{[(i.domain, i.version) for i in proto.opset_import]}")
        return 1
    if "" not in seen:
        raise ModelLoadError("model has no opset_import for the default ONNX domain ('' / 'ai.onnx'): "
                             "the op versions are undefined")
    opset, newest = seen[""], defs.onnx_opset_version()
    if not 1 <= opset <= newest:
        raise ModelLoadError(f"model default-domain opset {opset} is not valid: expected 1..{newest} "
                             f"(the newest the installed onnx {onnx.__version__} knows)", value=opset)
    return opset


# ---- walking graphs ------------------------------------------------------------

def _node_label(node: onnx.NodeProto, index: int, prefix: str) -> str:
    """Same name as runtime.load.to_nodes gives the node."""
    return node.name or f"{prefix}{node.op_type}_{index}"


def _subgraphs(node: onnx.NodeProto) -> Iterator[Tuple[str, onnx.GraphProto]]:
    for a in node.attribute:
        if a.type == AttributeProto.GRAPH:
            yield a.name, a.g
        elif a.type == AttributeProto.GRAPHS:
            for k, g in enumerate(a.graphs):
                yield f"{a.name}[{k}]", g


# ---- 2. tensors ----------------------------------------------------------------

def _type_name(data_type: int) -> str:
    try:
        return TensorProto.DataType.Name(data_type)
    except ValueError:
        return str(data_type)


def check_tensor(t: TensorProto, what: str, **context) -> None:
    """Raise ModelLoadError unless `t` holds exactly the data its dims and type declare.

    `what` names the tensor in messages, e.g. "initializer 'w'"; `context`
    (node=, attribute=) travels on the error. Compares counts only; builds no array.
    """
    dims = tuple(t.dims)
    name = _type_name(t.data_type)
    if t.data_type == TensorProto.UNDEFINED or name == str(t.data_type):
        raise ModelLoadError(f"{what}: element type {t.data_type} is not an ONNX tensor type "
                             f"(TensorProto.DataType)", value=t.data_type, **context)
    if any(d < 0 for d in dims):
        raise ModelLoadError(f"{what}: declared shape {dims} has a negative dimension",
                             value=dims, **context)
    if t.HasField("segment"):
        raise UnsupportedOpError(f"{what}: segmented tensors are not supported", value=dims, **context)
    if t.data_location == TensorProto.EXTERNAL:
        raise ModelLoadError(f"{what}: its data is in an external file that was not loaded "
                             f"(load the model from its file path)", value=dims, **context)
    count = math.prod(dims)  # Python int: no overflow
    used = [f for f in _TYPED_FIELDS if len(getattr(t, f))]
    has_raw = t.HasField("raw_data")
    where = used + (["raw_data"] if has_raw else [])
    if len(where) > 1:
        raise ModelLoadError(f"{what}: data is in both {where[0]} and {where[1]}, expected one field",
                             value=dims, **context)
    if t.data_type == TensorProto.STRING:
        field, per = "string_data", count
        if has_raw:
            raise ModelLoadError(f"{what}: STRING data cannot be raw_data, expected string_data",
                                 value=dims, **context)
    else:
        field, per = helper.tensor_dtype_to_field(t.data_type), _typed_values(t.data_type, count)
    if used and used[0] != field:
        raise ModelLoadError(f"{what}: {name} data is in {used[0]}, expected {field} or raw_data",
                             value=dims, **context)
    if has_raw:
        want, got = _raw_bytes(t.data_type, count), len(t.raw_data)
        if got != want:
            raise ModelLoadError(f"{what}: declared shape {dims} of {name} needs {want} bytes, "
                                 f"raw_data holds {got} bytes", value=dims, **context)
        return
    got = len(getattr(t, field))
    if got != per:
        raise ModelLoadError(f"{what}: declared shape {dims} of {name} needs {per} values in {field}, "
                             f"it holds {got}", value=dims, **context)


def _check_tensors(graph: onnx.GraphProto, prefix: str = "") -> None:
    for t in graph.initializer:
        check_tensor(t, f"initializer '{t.name}'")
    if len(graph.sparse_initializer):
        raise UnsupportedOpError(f"graph '{graph.name}': sparse initializers "
                             f"('{graph.sparse_initializer[0].values.name}') are not supported")
    for i, node in enumerate(graph.node):
        label = _node_label(node, i, prefix)
        for a in node.attribute:
            what = f"{node.op_type} node '{label}' attribute '{a.name}'"
            if a.type == AttributeProto.TENSOR:
                check_tensor(a.t, what, node=label, attribute=a.name)
            elif a.type == AttributeProto.TENSORS:
                for k, t in enumerate(a.tensors):
                    check_tensor(t, f"{what}[{k}]", node=label, attribute=a.name)
            for s in ([a.s] if a.type == AttributeProto.STRING else
                      list(a.strings) if a.type == AttributeProto.STRINGS else []):
                try:
                    s.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise ModelLoadError(f"{what}: string {s[:40]!r} is not UTF-8 ({e.reason})",
                                         node=label, attribute=a.name, value=s[:40]) from e
        for _, g in _subgraphs(node):
            _check_tensors(g, f"{label}/")


# ---- external data ---------------------------------------------------------------

def _external_tensors(graph: onnx.GraphProto, prefix: str = "") -> Iterator[Tuple[TensorProto, str]]:
    for t in graph.initializer:
        yield t, f"initializer '{t.name}'"
    for i, node in enumerate(graph.node):
        label = _node_label(node, i, prefix)
        for a in node.attribute:
            what = f"{node.op_type} node '{label}' attribute '{a.name}'"
            if a.type == AttributeProto.TENSOR:
                yield a.t, what
            elif a.type == AttributeProto.TENSORS:
                yield from ((t, f"{what}[{k}]") for k, t in enumerate(a.tensors))
        for _, g in _subgraphs(node):
            yield from _external_tensors(g, f"{label}/")


def load_external_data(proto: onnx.ModelProto, base_dir: Optional[str]) -> None:
    """Read every externally stored tensor into raw_data, in place.

    Each file must lie inside `base_dir` (the model's folder; None when the
    model came as bytes or a ModelProto: then external data is refused) and
    hold the bytes the tensor's dims and type declare from `offset` on: exactly
    `length` of them when given, else exactly the rest of the file (as onnx reads it). Raises ModelLoadError naming the
    tensor, its declared shape and the bytes found.
    """
    for t, what in _external_tensors(proto.graph):
        if t.data_location != TensorProto.EXTERNAL:
            continue
        info = {e.key: e.value for e in t.external_data}
        dims = tuple(t.dims)
        location = info.get("location", "")
        if base_dir is None:
            raise ModelLoadError(f"{what}: data is in external file '{location}'; load the model from "
                                 f"its file path so radrt can find that file", value=location)
        if not location or "\0" in location or os.path.isabs(location):
            raise ModelLoadError(f"{what}: external data location '{location}' must be a path relative "
                                 f"to the model's folder", value=location)
        root = os.path.realpath(base_dir)
        path = os.path.realpath(os.path.join(root, location))
        if os.path.commonpath([root, path]) != root:
            raise ModelLoadError(f"{what}: external data location '{location}' points outside the "
                                 f"model's folder {root}", value=location)
        try:
            offset = int(info.get("offset", 0))
            length = int(info["length"]) if "length" in info else None
        except ValueError as e:
            raise ModelLoadError(f"{what}: external data offset/length {info} are not integers") from e
        name = _type_name(t.data_type)
        if t.data_type in (TensorProto.UNDEFINED, TensorProto.STRING) or name == str(t.data_type) \
                or any(d < 0 for d in dims):
            raise ModelLoadError(f"{what}: external data of element type {name} and declared shape {dims} "
                                 f"is not valid", value=dims)
        want = _raw_bytes(t.data_type, math.prod(dims))
        try:
            size = os.path.getsize(path)
            if offset < 0 or offset > size:
                raise ModelLoadError(f"{what}: external data offset {offset} is outside file "
                                     f"'{location}' ({size} bytes)", value=offset)
            have = size - offset if length is None else length
            if have != want or offset + have > size:
                raise ModelLoadError(
                    f"{what}: declared shape {dims} of {name} needs {want} bytes; external file "
                    f"'{location}' gives {min(have, size - offset)} bytes from offset {offset}", value=dims)
            with open(path, "rb") as f:
                f.seek(offset)
                data = f.read(want)
        except OSError as e:
            raise ModelLoadError(f"{what}: cannot read external data file '{location}' "
                                 f"({e.strerror})", value=location) from e
        if len(data) != want:
            raise ModelLoadError(f"{what}: external file '{location}' gave {len(data)} bytes, "
                                 f"declared shape {dims} of {name} needs {want}", value=dims)
        t.raw_data = data
        del t.external_data[:]
        t.data_location = TensorProto.DEFAULT


# ---- 3. single static assignment ------------------------------------------------

def check_ssa(graph: onnx.GraphProto, outer: Optional[Mapping[str, str]] = None, prefix: str = "") -> None:
    """Raise ModelLoadError if a value name is defined twice (here or in an enclosing graph)."""
    local: Dict[str, str] = {}
    scope = ChainMap(local, outer or {})

    def define(name: str, what: str, node: Optional[str] = None) -> None:
        if not name:
            return
        if name in scope:
            raise ModelLoadError(f"value '{name}' is defined twice: {scope[name]} and {what}",
                                 node=node, value=name)
        local[name] = what

    for vi in graph.input:
        define(vi.name, "graph input")
    inputs = {vi.name for vi in graph.input}
    for t in graph.initializer:
        if t.name in inputs:
            continue  # an initializer may give a graph input its default value
        define(t.name, "initializer")
    for i, node in enumerate(graph.node):
        label = _node_label(node, i, prefix)
        for _, g in _subgraphs(node):
            check_ssa(g, scope, f"{label}/")
        for out in node.output:
            define(out, f"{node.op_type} node '{label}' output", label)


# ---- 4. op schemas ----------------------------------------------------------------

def _attr_type(t: int) -> str:
    return AttributeProto.AttributeType.Name(t) if t in AttributeProto.AttributeType.values() else str(t)


def _attr_value(a: AttributeProto):
    """The attribute's value for an error's `value`, or None when its type is not a known one."""
    try:
        return helper.get_attribute_value(a)
    except ValueError:
        return None


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def _first_version(op_type: str, domain: str) -> Optional[int]:
    versions = [s.since_version for s in defs.get_all_schemas_with_history()
                if s.name == op_type and s.domain == domain]
    return min(versions) if versions else None


def check_node_schema(node: onnx.NodeProto, label: str, opset: int) -> None:
    """Check one default-domain node against its ONNX schema at `opset`."""
    op = node.op_type
    where = f"{op} node '{label}'"
    try:
        schema = defs.get_schema(op, opset, "")
    except defs.SchemaError:
        first = _first_version(op, "")
        if first is None:
            raise ModelLoadError(f"{where}: '{op}' is not an op of the default ONNX domain",
                                 node=label, value=op) from None
        raise ModelLoadError(f"{where}: {op} does not exist at opset {opset} (it first appears "
                             f"in opset {first})", node=label, value=opset) from None
    versioned = f"{op}-{schema.since_version}"
    given = set()
    for a in node.attribute:
        if a.name in given:
            raise ModelLoadError(f"{where}: attribute '{a.name}' is given twice", node=label, attribute=a.name)
        given.add(a.name)
        spec = schema.attributes.get(a.name)
        if spec is None:
            known = ", ".join(sorted(schema.attributes)) or "no attributes"
            raise ModelLoadError(f"{where}: unknown attribute '{a.name}' ({versioned} has: {known})",
                                 node=label, attribute=a.name)
        if a.ref_attr_name:
            raise ModelLoadError(f"{where}: attribute '{a.name}' refers to '{a.ref_attr_name}', which "
                                 f"only a function body may do", node=label, attribute=a.name)
        if int(a.type) != int(spec.type):
            raise ModelLoadError(f"{where}: attribute '{a.name}' has type {_attr_type(a.type)}, "
                                 f"expected {_attr_type(int(spec.type))} ({versioned})",
                                 node=label, attribute=a.name, value=_attr_value(a))
    names = [p.name for p in schema.inputs]
    n = len(node.input)
    if n > schema.max_input:
        raise ModelLoadError(f"{where}: has {_count(n, 'input')}, {versioned} takes at most "
                             f"{schema.max_input} "
                             f"({', '.join(names)})", node=label, value=list(node.input))
    if n < schema.min_input:
        raise ModelLoadError(f"{where}: has {_count(n, 'input')}, {versioned} needs at least "
                             f"{schema.min_input} "
                             f"({', '.join(names)})", node=label, value=list(node.input))
    for i, p in enumerate(schema.inputs[:n]):
        if p.option == defs.OpSchema.FormalParameterOption.Single and not node.input[i]:
            raise ModelLoadError(f"{where}: input {i} ({p.name}) is required but empty",
                                 node=label, attribute=p.name)
    missing = [a for a, spec in schema.attributes.items() if spec.required and a not in given]
    if missing:
        raise ModelLoadError(f"{where}: required attribute '{missing[0]}' is missing ({versioned})",
                             node=label, attribute=missing[0])
    if op == "Constant" and len(given) != 1:  # every Constant attribute is one form of its value
        raise ModelLoadError(f"{where}: has {_count(len(given), 'value attribute')} "
                             f"({', '.join(sorted(given)) or 'none'}), expected exactly one of "
                             f"{', '.join(sorted(schema.attributes))}", node=label, value=sorted(given))
    m = len(node.output)
    if not schema.min_output <= m <= schema.max_output:
        raise ModelLoadError(f"{where}: has {_count(m, 'output')}, {versioned} has "
                             f"{schema.min_output}.."
                             f"{schema.max_output}", node=label, value=list(node.output))


def _check_schemas(graph: onnx.GraphProto, opset: int, prefix: str = "") -> None:
    for i, node in enumerate(graph.node):
        label = _node_label(node, i, prefix)
        if node.domain in DEFAULT_DOMAINS:
            check_node_schema(node, label, opset)
        for _, g in _subgraphs(node):
            _check_schemas(g, opset, f"{label}/")


# ---- 5. onnx's checker ---------------------------------------------------------------

def _copy_field(dst: Message, name: str, value) -> None:
    if isinstance(value, Message):
        getattr(dst, name).CopyFrom(value)
    elif isinstance(value, (str, bytes, int, float)):
        setattr(dst, name, value)
    else:  # a repeated field
        getattr(dst, name).extend(value)


def _checker_model(proto: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of `proto` for onnx's checker: main-graph initializers without their data.

    Step 2 checked the initializers; leaving their bytes out keeps the checker's
    serialize-and-parse linear in the graph, not in the weights (a 575 MB
    model checks in milliseconds, and never hits protobuf's 2 GiB limit).
    Main-graph inputs and outputs without a shape get an empty one, and outputs
    without a type a placeholder type: the checker wants the fields, and no
    type or shape inference runs here. IR 3 becomes IR 4, whose
    only difference is that initializers need not be listed as graph inputs.
    """
    view = onnx.ModelProto()
    for f, v in proto.ListFields():
        if f.name != "graph":
            _copy_field(view, f.name, v)
    for f, v in proto.graph.ListFields():
        if f.name == "initializer":
            view.graph.initializer.extend(
                TensorProto(name=t.name, data_type=t.data_type, dims=[0]) for t in v)
        else:
            _copy_field(view.graph, f.name, v)
    for vi in view.graph.output:
        if not vi.HasField("type"):  # an untyped output takes its producer's type
            vi.type.tensor_type.elem_type = TensorProto.FLOAT
    for vi in list(view.graph.input) + list(view.graph.output):
        if vi.type.HasField("tensor_type") and not vi.type.tensor_type.HasField("shape"):
            vi.type.tensor_type.shape.SetInParent()
    if view.ir_version == 3:
        view.ir_version = 4
    return view


def run_onnx_checker(proto: onnx.ModelProto) -> None:
    """onnx.checker.check_model (no strict shape inference), relaxed as `_checker_model` says."""
    try:
        onnx.checker.check_model(_checker_model(proto))
    except Exception as e:  # ValidationError, or SchemaError etc. from the C++ checker: its verdict
        raise ModelLoadError(f"model is not valid ONNX (onnx checker): {str(e).strip()}") from e


# ---- 6. element types -------------------------------------------------------------

def _tensor_type(elem_type: int) -> str:
    """'tensor(float)' etc., as schema type strings spell an element type."""
    return f"tensor({_type_name(elem_type).lower()})"


def _declared(vi: onnx.ValueInfoProto) -> Optional[str]:
    """The declared tensor type string of a value info, None when it declares none."""
    if vi.type.HasField("tensor_type") and vi.type.tensor_type.elem_type:
        return _tensor_type(vi.type.tensor_type.elem_type)
    return None


def _type_string(tp: onnx.TypeProto) -> str:
    """A TypeProto as ONNX writes it: tensor(float), seq(tensor(float)), map(int64,tensor(float))..."""
    kind = tp.WhichOneof("value")
    if kind in ("tensor_type", "sparse_tensor_type"):
        name = _type_name(getattr(tp, kind).elem_type).lower()
        return f"{'tensor' if kind == 'tensor_type' else 'sparse_tensor'}({name})"
    if kind == "sequence_type":
        return f"seq({_type_string(tp.sequence_type.elem_type)})"
    if kind == "optional_type":
        return f"optional({_type_string(tp.optional_type.elem_type)})"
    if kind == "map_type":
        return f"map({_type_name(tp.map_type.key_type).lower()},{_type_string(tp.map_type.value_type)})"
    return "no type"


def check_graph_io(graph: onnx.GraphProto) -> None:
    """Main-graph inputs and outputs must be tensors (or carry no type, outputs only).

    Raises UnsupportedOpError naming the value and its type (a sequence, map,
    optional or sparse tensor is valid ONNX that radrt does not run).
    """
    for kind, values in (("input", graph.input), ("output", graph.output)):
        for vi in values:
            which = vi.type.WhichOneof("value")
            if which == "tensor_type" or (kind == "output" and which is None):
                continue
            raise UnsupportedOpError(f"graph {kind} '{vi.name}' has type {_type_string(vi.type)}; "
                                     f"radrt runs only tensor inputs and outputs", value=vi.name)


def _check_node_types(node: onnx.NodeProto, label: str, opset: int, types: Mapping[str, str]) -> list:
    """Check the known input types of one default-domain node against its schema's type
    constraints; return its output types (a type string, or None when unknown).

    An input whose type is known must be one of the types its formal parameter
    allows, and all inputs bound to one type variable must have the same type.
    """
    schema = defs.get_schema(node.op_type, opset, "")
    where = f"{node.op_type} node '{label}'"
    versioned = f"{node.op_type}-{schema.since_version}"
    allowed = {c.type_param_str: list(c.allowed_type_strs) for c in schema.type_constraints}
    bound: Dict[str, Tuple[str, str]] = {}  # type variable -> (type, which input bound it)
    for i, name in enumerate(node.input):
        if not name or name not in types or not schema.inputs:
            continue
        param = schema.inputs[min(i, len(schema.inputs) - 1)]
        got, ts = types[name], param.type_str
        which = f"input {i} ({param.name}) '{name}'"
        choices = allowed.get(ts, [ts])
        if got not in choices:
            raise ModelLoadError(f"{where}: {which} has type {got}, {versioned} allows "
                                 f"{' or '.join(choices)}" + (f" (type variable {ts})" if ts in allowed else ""),
                                 node=label, attribute=param.name, value=got)
        variadic_mixed = (param.option == defs.OpSchema.FormalParameterOption.Variadic
                          and not param.is_homogeneous)
        if ts in allowed and not variadic_mixed:
            first = bound.setdefault(ts, (got, which))
            if first[0] != got:
                raise ModelLoadError(f"{where}: {first[1]} has type {first[0]} but {which} has type {got}; "
                                     f"{versioned} binds both to type variable {ts}, they must be the same",
                                     node=label, attribute=param.name, value=got)
    outs = []
    for j, _ in enumerate(node.output):
        if not schema.outputs:
            outs.append(None)
            continue
        ts = schema.outputs[min(j, len(schema.outputs) - 1)].type_str
        if ts not in allowed:
            outs.append(ts)
        elif ts in bound:
            outs.append(bound[ts][0])
        elif len(allowed[ts]) == 1:
            outs.append(allowed[ts][0])
        else:
            outs.append(None)
    if node.op_type == "Cast" or node.op_type == "Constant" or node.op_type == "ConstantOfShape":
        outs = [_constant_like_type(node, types)] * len(node.output)
    return outs


def _constant_like_type(node: onnx.NodeProto, types: Mapping[str, str]) -> Optional[str]:
    attrs = {a.name: a for a in node.attribute}
    if node.op_type == "Cast":
        return _tensor_type(attrs["to"].i) if "to" in attrs else None
    if node.op_type == "ConstantOfShape":
        return _tensor_type(attrs["value"].t.data_type) if "value" in attrs else "tensor(float)"
    for key, a in attrs.items():  # Constant: its one value attribute
        if key == "value":
            return _tensor_type(a.t.data_type)
        if key in ("value_float", "value_floats"):
            return "tensor(float)"
        if key in ("value_int", "value_ints"):
            return "tensor(int64)"
        if key in ("value_string", "value_strings"):
            return "tensor(string)"
    return None


def _check_types(graph: onnx.GraphProto, opset: int, outer: Mapping[str, str], prefix: str = "") -> Dict[str, str]:
    """Propagate element types through `graph` in node order, checking each node."""
    local: Dict[str, str] = {}
    types = ChainMap(local, dict(outer))
    for vi in graph.input:
        t = _declared(vi)
        if t:
            local[vi.name] = t
    for t in graph.initializer:
        got = _tensor_type(t.data_type)
        if local.get(t.name, got) != got:
            raise ModelLoadError(f"graph '{graph.name}' input '{t.name}' is declared {local[t.name]} but its "
                                 f"initializer (default value) is {got}", value=t.name)
        local[t.name] = got
    for i, node in enumerate(graph.node):
        label = _node_label(node, i, prefix)
        for _, g in _subgraphs(node):
            _check_types(g, opset, types, f"{label}/")
        if node.domain not in DEFAULT_DOMAINS:
            continue
        if node.op_type == "If":
            outs = _if_types(node, label)
        else:
            outs = _check_node_types(node, label, opset, types)
        for name, t in zip(node.output, outs):
            if name and t:
                local[name] = t
    for kind, values in (("output", graph.output), ("value_info", graph.value_info)):
        for vi in values:
            want, got = _declared(vi), types.get(vi.name)
            if want and got and want != got:
                raise ModelLoadError(f"graph '{graph.name}' {kind} '{vi.name}' is declared {want} but "
                                     f"is produced as {got}", value=vi.name)
    return local


def _if_types(node: onnx.NodeProto, label: str) -> list:
    """If: both branches (taken or not) return as many values as the node has outputs, with
    the same declared types; the node's output types are the branches' declared ones."""
    branches = {a.name: a.g for a in node.attribute if a.type == AttributeProto.GRAPH}
    outs: list = [None] * len(node.output)
    for key in ("then_branch", "else_branch"):
        g = branches.get(key)
        if g is None:
            continue
        if len(g.output) != len(node.output):
            raise ModelLoadError(f"If node '{label}': {key} returns {_count(len(g.output), 'value')} "
                                 f"but the node has {_count(len(node.output), 'output')}",
                                 node=label, attribute=key, value=len(g.output))
        for j, vi in enumerate(g.output):
            t = _declared(vi)
            if t and outs[j] and outs[j] != t:
                raise ModelLoadError(f"If node '{label}': output {j} is {outs[j]} in then_branch but "
                                     f"{t} in else_branch", node=label, attribute=key, value=t)
            outs[j] = outs[j] or t
    return outs


def check_types(proto: onnx.ModelProto, opset: int) -> None:
    """Step 6: element types against the op schemas' type constraints; declared output
    types against the produced ones; If branches' output counts. Raises ModelLoadError."""
    _check_types(proto.graph, opset, {})


def validate_model(proto: onnx.ModelProto) -> int:
    """Check `proto` against the ONNX spec; return its default-domain opset.

    Raises ModelLoadError naming the node, attribute, value or tensor and the
    rule broken. Linear in model size; reads initializer sizes, never copies data.
    """
    opset = check_versions(proto)
    _check_tensors(proto.graph)
    check_ssa(proto.graph)
    _check_schemas(proto.graph, opset)
    run_onnx_checker(proto)
    check_graph_io(proto.graph)
    check_types(proto, opset)
    return opset
