"""What `radrt inspect MODEL` prints: the outcome of load, compile and plan, and the
exposed bits of a protection mode.

Exposed bits: every bit of memory an upset can hit that the mode keeps, per fault-site
kind (runtime.protect.faults): weights (every copy, the golden mirror included),
activations (every replica's arena) and input (every replica's copy). Alignment and
packing padding are included here; `radrt fi estimate` separates them (a campaign's
memory map knows which bytes hold no tensor)."""
from collections import Counter
from typing import List

from .session import Compiled


def _mib(n: int) -> str:
    return f"{n / 2**20:.2f} MiB" if n >= 2**20 else f"{n / 2**10:.1f} KiB"


EXPOSED_KINDS = ("weights", "activations", "input")


def exposed_bits(fault_sites) -> dict:
    """{kind: bits} over the sites of each memory kind (FaultSite.nbytes x 8, summed)."""
    return {kind: 8 * sum(s.nbytes for s in fault_sites if s.kind == kind) for kind in EXPOSED_KINDS}


def describe(compiled: Compiled, model_name: str, fault_sites=None, protection: str = "none") -> str:
    """The inspect text; with the session's fault_sites(), also the exposed bits of `protection`."""
    g, plan = compiled.graph, compiled.plan
    lines: List[str] = [f"model {model_name}: opset {g.opset}"]
    for name in g.inputs:
        info = g.values[name]
        lines.append(f"  input  {name}: {info.dtype} {info.shape}")
    for name in g.outputs:
        info = g.values[name]
        lines.append(f"  output {name}: {info.dtype} {info.shape}")
    fused = Counter(op for op, _ in g.fused_nodes)
    fused_text = ", ".join(f"{n} {op}" for op, n in sorted(fused.items())) or "nothing"
    lines.append(f"compile: {len(plan.steps)} kernel steps, {g.folded_nodes} nodes folded at compile time, "
                 f"{len(g.alias)} views; fused into Conv/Gemm/MatMul: {fused_text}")
    lines.append("")
    # One row per step; the op and shape columns are as wide as their longest entry (a
    # contrib op reads "com.microsoft::QLinearAdd"), so every row stays aligned.
    rows = []
    total = 0
    for s in plan.steps:
        total += s.prepared.flops
        op = f"{s.node.domain}::{s.node.op_type}" if s.node.domain else s.node.op_type
        shapes = " ".join(str(tuple(o.shape)) for o in s.prepared.outputs)
        rows.append((s.index, op, s.node.name[:32], shapes, s.prepared.flops))
    op_w = max([20] + [len(r[1]) for r in rows])
    shape_w = max([22] + [len(r[3]) for r in rows])
    lines.append(f"{'#':>4}  {'op':<{op_w}} {'node':<32} {'output shape':<{shape_w}} {'MFLOP':>9}")
    for index, op, name, shapes, flops in rows:
        lines.append(f"{index:>4}  {op:<{op_w}} {name:<32} {shapes:<{shape_w}} {flops / 1e6:>9.2f}")
    lines.append("")
    lines.append(f"FLOPs: {total / 1e9:.3f} GFLOP per inference (a multiply-add counts 2)")
    rb = plan.region_bytes
    saved = plan.arena_unshared_bytes - rb["arena"]
    lines.append("memory plan:")
    lines.append(f"  weights      {_mib(rb['weights']):>12}  ({len(plan.weights)} tensors)")
    if g.float16_widened:
        lines.append("               float16 in the model, held and computed as float32 (runtime.half): "
                     "2x the bits a float16 copy would expose")
    lines.append(f"  activations  {_mib(rb['arena']):>12}  (arena; without reuse "
                 f"{_mib(plan.arena_unshared_bytes)}, reuse saved {_mib(saved)})")
    lines.append(f"  input        {_mib(rb['input']):>12}")
    lines.append(f"  output       {_mib(rb['output']):>12}")
    if fault_sites is not None:
        bits = exposed_bits(fault_sites)
        lines.append(f"exposed bits (protection {protection}; every copy and replica, padding included):")
        for kind in EXPOSED_KINDS:
            n_sites = sum(1 for s in fault_sites if s.kind == kind)
            lines.append(f"  {kind:<12} {bits[kind]:>14,} bits  ({n_sites} site{'s' if n_sites != 1 else ''})")
        lines.append(f"  {'total':<12} {sum(bits.values()):>14,} bits")
    return "\n".join(lines)
