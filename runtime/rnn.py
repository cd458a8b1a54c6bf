"""Compile-time expansion of the recurrent ops (LSTM, GRU, RNN) into kernel ops.

`expand(node, ins, fresh, opset)` returns the plain ONNX nodes (Gemm, Gather, Split,
Add, Mul, Sigmoid, Tanh, ... each with a radrt kernel) and the constants that compute
the recurrent node for the shapes the compile stage has fixed: the sequence is
unrolled over its T steps (T is known once input shapes are), so every step is
an ordinary kernel step that the protection modes cover like any other, and no
loop runs in Python at inference time.

Per direction d (forward, reverse, or both for bidirectional), following the ONNX
operator specs (LSTM-14, GRU-14, RNN-14):
- the input projection of every step at once: XW = X W_d^T + bias ([T*B, G*H], G
  gates), where bias = Wb + Rb (GRU with linear_before_reset: Rb of the h gate stays
  inside the step);
- each step t (T-1 down to 0 when reverse): gates = XW[t] + H R_d^T, then
  LSTM (gates i, o, f, c; peepholes P_i, P_f on C_{t-1}, P_o on C_t):
      i = f(. + P_i C), f' = f(. + P_f C), c = g(.), C = f' C + i c, o = f(. + P_o C), H = o h(C);
  GRU (gates z, r, h): z = f(.), r = f(.), h~ = g(x_h + (r H) R_h^T + Rb_h) or, with
      linear_before_reset, g(x_h + r (H R_h^T + Rb_h)); H = h~ + z (H - h~);
  RNN: H = f(.);
- `clip` clamps every pre-activation to [-clip, clip];
- sequence_lens (compiled on its value: runtime.compile.PARAMETER_INPUTS; every entry
  in [0, T]): batch entry b runs steps 0 .. L_b - 1 only (reverse: L_b - 1 down to 0).
  Its validity at each step is known at compile time, so the unrolled graph masks with
  a constant: at a step where some entries are past their length, H (and C) =
  Where(valid, new, previous) keeps their state and Y = Where(valid, new, 0); a step
  past every entry's length is not computed at all (Y is a constant 0); a step where
  every entry is valid has no Where. Where selects, so whatever X holds past an
  entry's length (padding, NaN) never reaches the results, as the spec says (a
  multiply by a 0/1 mask would let a NaN through). Y_h (Y_c) is the state after the
  entry's last valid step; for an empty sequence (L_b = 0) it is 0, not the initial
  state: onnxruntime's result, which the spec does not settle.
Outputs: Y [T, num_directions, B, H] (layout 1: [B, T, num_directions, H]), Y_h and
(LSTM) Y_c [num_directions, B, H] (layout 1: [B, num_directions, H]); initial_h and
initial_c have the shape of Y_h.

Activations: Sigmoid, Tanh, Relu, LeakyRelu (alpha), HardSigmoid (alpha, beta);
activation_alpha / activation_beta are consumed in order by the activations that take
them, defaults as the ops'. Not supported (UnsupportedOpError naming the attribute):
LSTM input_forget=1, other activations. A sequence length outside [0, T] is a
CompileError naming sequence_lens.
"""
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .load import Node
from .ops import TensorInfo, node_error, unsupported

GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
DEFAULT_ACTIVATIONS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"], "RNN": ["Tanh"]}
# Activation -> (its parameters with defaults: attribute names of the ONNX op).
ACTIVATIONS = {"Sigmoid": (), "Tanh": (), "Relu": (), "LeakyRelu": (("alpha", 0.01),),
               "HardSigmoid": (("alpha", 0.2), ("beta", 0.5))}


class _Builder:
    """Collects the nodes and constants of one expansion, with fresh names."""

    def __init__(self, node: Node, fresh: Callable[[str], str], opset: int):
        self.node, self.fresh, self.opset = node, fresh, opset
        self.nodes: List[Node] = []
        self.constants: Dict[str, np.ndarray] = {}

    def const(self, value, dtype=np.float32) -> str:
        name = self.fresh(f"{self.node.name}/const")
        self.constants[name] = np.asarray(value, dtype=dtype)
        return name

    def op(self, op_type: str, inputs: Sequence[str], n_out: int = 1, out: Optional[str] = None,
           **attrs) -> List[str]:
        outs = [out] if out is not None else [self.fresh(f"{self.node.name}/{op_type.lower()}")
                                              for _ in range(n_out)]
        self.nodes.append(Node(op_type, self.fresh(f"{self.node.name}/{op_type}"), list(inputs), outs, attrs,
                               self.opset))
        return outs

    def one(self, op_type: str, inputs: Sequence[str], out: Optional[str] = None, **attrs) -> str:
        return self.op(op_type, inputs, 1, out, **attrs)[0]

    def reshape(self, x: str, shape: Sequence[int], out: Optional[str] = None) -> str:
        return self.one("Reshape", [x, self.const(list(shape), np.int64)], out)

    def split(self, x: str, sizes: List[int]) -> List[str]:
        """x split along axis 1 into `sizes` (Split: sizes an input from opset 13, an attribute before)."""
        if self.opset >= 13:
            return self.op("Split", [x, self.const(sizes, np.int64)], len(sizes), axis=1)
        return self.op("Split", [x], len(sizes), axis=1, split=list(sizes))

    def clip(self, x: str, bound: float) -> str:
        """x clamped to [-bound, bound] (Clip: bounds inputs from opset 11, attributes before)."""
        if self.opset >= 11:
            return self.one("Clip", [x, self.const(-bound), self.const(bound)])
        return self.one("Clip", [x], min=-bound, max=bound)

    def pick(self, x: str, index: int, axis: int = 0) -> str:
        """x's slice `index` along `axis`, that axis removed (Gather with a scalar index)."""
        return self.one("Gather", [x, self.const(index, np.int64)], axis=axis)

    def columns(self, x: str, start: int, stop: int) -> str:
        """x[..., start:stop] of a 2-D or 1-D x (Slice on the last axis)."""
        return self.one("Slice", [x, self.const([start], np.int64), self.const([stop], np.int64),
                                  self.const([-1], np.int64)])


def _activations(node: Node, n_dirs: int) -> List[List[Tuple[str, dict]]]:
    """Per direction, the op's activations as (op type, attributes)."""
    names = node.attr("activations")
    default = DEFAULT_ACTIVATIONS[node.op_type]
    if names is None:
        names = default * n_dirs
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
    if len(names) != len(default) * n_dirs:
        raise node_error(node, f"attribute activations has {len(names)} entries, expected {len(default) * n_dirs} "
                               f"({len(default)} per direction)", attribute="activations", value=names)
    alphas = list(node.attr("activation_alpha") or [])
    betas = list(node.attr("activation_beta") or [])
    resolved = []
    for name in names:
        if name not in ACTIVATIONS:
            raise unsupported(node, f"activation {name!r} is not supported (supported: {', '.join(ACTIVATIONS)})",
                              attribute="activations", value=name)
        attrs = {}
        for key, default_value in ACTIVATIONS[name]:
            source = alphas if key == "alpha" else betas
            attrs[key] = float(source.pop(0)) if source else default_value
        resolved.append((name, attrs))
    k = len(default)
    return [resolved[d * k:(d + 1) * k] for d in range(n_dirs)]


def _sequence_lengths(node: Node, lens: Optional[TensorInfo], T: int, B: int) -> List[int]:
    """Each batch entry's sequence length: sequence_lens' value (every entry in [0, T]),
    or T for all when it is omitted."""
    if lens is None:
        return [T] * B
    if lens.value is None:
        raise unsupported(node, "input 4 (sequence_lens) must be a constant (an initializer or a fed input "
                                "the session compiles on)")
    value = np.asarray(lens.value)
    if not np.issubdtype(value.dtype, np.integer) or value.shape != (B,):
        raise node_error(node, f"input 4 (sequence_lens) has shape {value.shape} and element type "
                               f"{value.dtype.name}, expected ({B},) int32 (one length per batch entry)",
                         attribute="sequence_lens", value=value.shape)
    lengths = [int(v) for v in value]
    if any(not 0 <= n <= T for n in lengths):
        raise node_error(node, f"sequence_lens {lengths}: every entry must be in [0, {T}] (the sequence "
                               f"length of X)", attribute="sequence_lens", value=lengths)
    return lengths


def expand(node: Node, ins: List[Optional[TensorInfo]], fresh: Callable[[str], str], opset: int
           ) -> Tuple[List[Node], Dict[str, np.ndarray]]:
    """The kernel nodes and constants computing `node` (module docstring)."""
    op = node.op_type
    G = GATES[op]
    if len(ins) < 3 or any(i is None for i in ins[:3]):
        raise node_error(node, "inputs X, W and R are required")
    x, w, r = ins[:3]
    get = (lambda k: ins[k] if k < len(ins) else None)
    for k, info in enumerate(ins):
        if info is not None and k != 4 and np.dtype(info.dtype) != np.float32:
            raise unsupported(node, f"input {k} has dtype {np.dtype(info.dtype).name}, radrt computes "
                                    f"{op} in float32 only")
    direction = node.attr("direction", b"forward")
    direction = direction.decode() if isinstance(direction, bytes) else str(direction)
    if direction not in ("forward", "reverse", "bidirectional"):
        raise node_error(node, f"attribute direction is {direction!r}, expected forward, reverse or bidirectional",
                         attribute="direction", value=direction)
    n_dirs = 2 if direction == "bidirectional" else 1
    layout = int(node.attr("layout", 0))
    if layout not in (0, 1):
        raise node_error(node, f"attribute layout is {layout}, expected 0 or 1", attribute="layout", value=layout)
    if x.rank != 3:
        raise node_error(node, f"X has shape {x.shape}, expected rank 3")
    T, B, I = (x.shape[1], x.shape[0], x.shape[2]) if layout else x.shape
    H = node.attr("hidden_size")
    if H is None:
        H = w.shape[1] // G if w.rank == 3 else None
    if H is None or H <= 0:
        raise node_error(node, "attribute hidden_size is missing or not positive", attribute="hidden_size")
    H = int(H)
    for name, info, shape in (("W", w, (n_dirs, G * H, I)), ("R", r, (n_dirs, G * H, H))):
        if tuple(info.shape) != shape:
            raise node_error(node, f"input {name} has shape {info.shape}, expected {shape}")
    bias, lens, h0, c0, peep = get(3), get(4), get(5), get(6), get(7)
    state = (B, n_dirs, H) if layout else (n_dirs, B, H)   # initial_h, initial_c
    expected = {3: (n_dirs, 2 * G * H), 5: state, 6: state, 7: (n_dirs, 3 * H)}
    for k, shape in expected.items():
        info = get(k)
        if info is not None and tuple(info.shape) != shape:
            raise node_error(node, f"input {k} has shape {info.shape}, expected {shape}")
    lengths = _sequence_lengths(node, lens, T, B)
    if op == "LSTM" and int(node.attr("input_forget", 0)):
        raise unsupported(node, "input_forget=1 (coupled input and forget gates) is not supported",
                          attribute="input_forget", value=1)
    if op != "LSTM" and (c0 is not None or peep is not None):
        raise node_error(node, f"{op} has no input 6 or 7")
    clip = node.attr("clip")
    lbr = int(node.attr("linear_before_reset", 0)) if op == "GRU" else 0
    acts = _activations(node, n_dirs)

    b = _Builder(node, fresh, opset)
    names = node.inputs + [""] * (8 - len(node.inputs))
    X = names[0]
    if layout:
        X = b.one("Transpose", [X], perm=[1, 0, 2])
    Xr = b.reshape(X, (T * B, I))

    def activate(v: str, which: Tuple[str, dict]) -> str:
        if clip is not None:
            v = b.clip(v, float(clip))
        return b.one(which[0], [v], **which[1])

    ys, hs, cs = [], [], []
    for d in range(n_dirs):
        reverse = direction == "reverse" or d == 1
        f, g, h = (acts[d] + [None, None])[:3]
        Wd, Rd = b.pick(names[1], d), b.pick(names[2], d)                      # [G*H, I], [G*H, H]
        XW = b.one("Gemm", [Xr, Wd], transB=1)                                 # [T*B, G*H]
        rb_h = None
        if bias is not None:
            Bd = b.pick(names[3], d)                                          # [2*G*H]
            wb, rb = b.columns(Bd, 0, G * H), b.columns(Bd, G * H, 2 * G * H)
            if lbr:
                step_bias = b.one("Concat", [b.one("Add", [b.columns(wb, 0, 2 * H), b.columns(rb, 0, 2 * H)]),
                                             b.columns(wb, 2 * H, 3 * H)], axis=0)
                rb_h = b.columns(rb, 2 * H, 3 * H)
            else:
                step_bias = b.one("Add", [wb, rb])
            XW = b.one("Add", [XW, step_bias])
        XW = b.reshape(XW, (T, B, G * H))
        H_prev = b.pick(names[5], d, axis=layout) if h0 is not None else b.const(np.zeros((B, H)))
        C_prev = ((b.pick(names[6], d, axis=layout) if c0 is not None else b.const(np.zeros((B, H))))
                  if op == "LSTM" else None)
        if op == "LSTM" and peep is not None:
            Pd = b.pick(names[7], d)
            p_i, p_o, p_f = (b.columns(Pd, k * H, (k + 1) * H) for k in range(3))
        if op == "GRU":
            R_zr, R_h = (b.one("Slice", [Rd, b.const([s], np.int64), b.const([e], np.int64), b.const([0], np.int64)])
                         for s, e in ((0, 2 * H), (2 * H, 3 * H)))
        outputs: List[Optional[str]] = [None] * T
        zeros = None   # [B, H] of 0: Y at the steps past an entry's length
        for t in (range(T - 1, -1, -1) if reverse else range(T)):
            valid = [t < n for n in lengths]
            if not any(valid):   # past every entry's length: nothing computed, Y is 0
                outputs[t] = b.const(np.zeros((1, 1, B, H)))
                continue
            xw = b.pick(XW, t)                                                 # [B, G*H]
            C_new = None
            if op == "LSTM":
                gates = b.one("Add", [xw, b.one("Gemm", [H_prev, Rd], transB=1)])
                gi, go, gf, gc = b.split(gates, [H] * 4)
                if peep is not None:
                    gi = b.one("Add", [gi, b.one("Mul", [p_i, C_prev])])
                    gf = b.one("Add", [gf, b.one("Mul", [p_f, C_prev])])
                i_t, f_t, c_t = activate(gi, f), activate(gf, f), activate(gc, g)
                C_new = b.one("Add", [b.one("Mul", [f_t, C_prev]), b.one("Mul", [i_t, c_t])])
                if peep is not None:
                    go = b.one("Add", [go, b.one("Mul", [p_o, C_new])])
                H_new = b.one("Mul", [activate(go, f), b.one(h[0], [C_new], **h[1])])
            elif op == "GRU":
                x_zr, x_h = b.split(xw, [2 * H, H])
                zr = b.one("Add", [x_zr, b.one("Gemm", [H_prev, R_zr], transB=1)])
                z_pre, r_pre = b.split(zr, [H, H])
                z_t, r_t = activate(z_pre, f), activate(r_pre, f)
                if lbr:
                    hr = b.one("Gemm", [H_prev, R_h], transB=1)
                    if rb_h is not None:
                        hr = b.one("Add", [hr, rb_h])
                    h_pre = b.one("Add", [x_h, b.one("Mul", [r_t, hr])])
                else:
                    h_pre = b.one("Add", [x_h, b.one("Gemm", [b.one("Mul", [r_t, H_prev]), R_h], transB=1)])
                h_t = activate(h_pre, g)
                H_new = b.one("Add", [h_t, b.one("Mul", [z_t, b.one("Sub", [H_prev, h_t])])])
            else:
                H_new = activate(b.one("Add", [xw, b.one("Gemm", [H_prev, Rd], transB=1)]), f)
            y_t = H_new
            if not all(valid):   # entries past their length keep their state and output 0
                mask = b.const(np.array(valid).reshape(B, 1), np.bool_)
                zeros = zeros or b.const(np.zeros((B, H)))
                y_t = b.one("Where", [mask, H_new, zeros])
                H_new = b.one("Where", [mask, H_new, H_prev])
                if C_new is not None:
                    C_new = b.one("Where", [mask, C_new, C_prev])
            outputs[t] = b.reshape(y_t, (1, 1, B, H))
            H_prev, C_prev = H_new, C_new
        if 0 in lengths:   # an empty sequence's Y_h and Y_c are 0, as onnxruntime's
            mask = b.const(np.array([n > 0 for n in lengths]).reshape(B, 1), np.bool_)
            zeros = zeros or b.const(np.zeros((B, H)))
            H_prev = b.one("Where", [mask, H_prev, zeros])
            if op == "LSTM":
                C_prev = b.one("Where", [mask, C_prev, zeros])
        ys.append(b.one("Concat", outputs, axis=0) if T > 1 else outputs[0])   # [T, 1, B, H]
        hs.append(b.reshape(H_prev, (1, B, H)))
        if op == "LSTM":
            cs.append(b.reshape(C_prev, (1, B, H)))

    def emit(parts: List[str], axis: int, out: str, perm: Optional[List[int]]) -> None:
        if not out:
            return
        joined = b.one("Concat", parts, axis=axis) if len(parts) > 1 else parts[0]
        if perm is not None:
            b.one("Transpose", [joined], out=out, perm=perm)
        else:
            b.one("Identity", [joined], out=out)

    outs = node.outputs + [""] * (3 - len(node.outputs))
    emit(ys, 1, outs[0], [2, 0, 1, 3] if layout else None)
    emit(hs, 0, outs[1], [1, 0, 2] if layout else None)
    if op == "LSTM":
        emit(cs, 0, outs[2], [1, 0, 2] if layout else None)
    elif outs[2]:
        raise node_error(node, f"{op} has 2 outputs, got 3")
    return b.nodes, b.constants
