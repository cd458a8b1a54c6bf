"""What `radrt inspect MODEL` prints: the outcome of load, compile and plan."""
from collections import Counter
from typing import List

from .session import Compiled


def _mib(n: int) -> str:
    return f"{n / 2**20:.2f} MiB" if n >= 2**20 else f"{n / 2**10:.1f} KiB"


def describe(compiled: Compiled, model_name: str) -> str:
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
    lines.append(f"{'#':>4}  {'op':<20} {'node':<32} {'output shape':<22} {'MFLOP':>9}")
    total = 0
    for s in plan.steps:
        shapes = " ".join(str(tuple(o.shape)) for o in s.prepared.outputs)
        total += s.prepared.flops
        lines.append(f"{s.index:>4}  {s.node.op_type:<20} {s.node.name[:32]:<32} {shapes:<22} "
                     f"{s.prepared.flops / 1e6:>9.2f}")
    lines.append("")
    lines.append(f"FLOPs: {total / 1e9:.3f} GFLOP per inference (a multiply-add counts 2)")
    rb = plan.region_bytes
    saved = plan.arena_unshared_bytes - rb["arena"]
    lines.append("memory plan:")
    lines.append(f"  weights      {_mib(rb['weights']):>12}  ({len(plan.weights)} tensors)")
    lines.append(f"  activations  {_mib(rb['arena']):>12}  (arena; without reuse "
                 f"{_mib(plan.arena_unshared_bytes)}, reuse saved {_mib(saved)})")
    lines.append(f"  input        {_mib(rb['input']):>12}")
    lines.append(f"  output       {_mib(rb['output']):>12}")
    return "\n".join(lines)
