"""Which ONNX backend node tests are radrt's to pass, and the reviewed manifest of those that do.

A *candidate* is a node test whose every op is one radrt knows (a kernel in the
registry, a view, a compile-time op, or a fold-only op) and at least one op has
a radrt kernel (or, LSTM/GRU/RNN, is unrolled into kernels). Candidates listed in `node_manifest.txt` must pass; candidates
not listed must fail (strict: one that starts passing must be added, with a
review). `python -m tests.conformance.node_cases --update` rewrites the
manifest from a run, keeping its comments for review in the diff.
"""
import os
import warnings
from functools import lru_cache

HERE = os.path.dirname(os.path.abspath(__file__))
MANIFEST = os.path.join(HERE, "node_manifest.txt")


@lru_cache(maxsize=1)
def node_cases():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from onnx.backend.test.loader import load_node_model_tests
        return {c.name: c for c in load_node_model_tests()}


def known_ops():
    """(ops that run as kernels, all ops radrt knows). The recurrent ops count as kernels:
    the compile stage unrolls them into kernel steps (runtime.rnn)."""
    from runtime import ops, rnn
    from runtime.load import COMPILE_TIME_OPS, FOLD_ONLY_OPS, VIEW_OPS
    kernels = set(ops.REGISTRY) | set(rnn.GATES)
    return kernels, kernels | VIEW_OPS | COMPILE_TIME_OPS | FOLD_ONLY_OPS


def _ops_of(graph):
    for n in graph.node:
        yield n.op_type
        for a in n.attribute:
            if a.g is not None and a.g.node:
                yield from _ops_of(a.g)


def candidates():
    kernels, known = known_ops()
    out = []
    for name, case in sorted(node_cases().items()):
        used = set(_ops_of(case.model.graph))
        if used <= known and used & kernels:
            out.append(name)
    return out


def read_manifest():
    names = []
    with open(MANIFEST) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                names.append(line)
    return names


def run_case(name):
    """Run one node test with radrt; raise AssertionError on a wrong result."""
    import numpy as np
    from onnx.backend.test.runner import Runner, _normalize_tensor

    from runtime import backend
    case = node_cases()[name]
    rep = backend.prepare(case.model)
    for inputs, ref_outputs in case.data_sets:
        outs = rep.run([_normalize_tensor(x) for x in inputs])
        Runner.assert_similar_outputs([_normalize_tensor(r) for r in ref_outputs], outs,
                                      rtol=case.rtol, atol=case.atol)


# Why a candidate is left out, recognised from radrt's error message.
_REASONS = [
    ("must be a constant", "a parameter input (axes, pads, starts, scales, sizes, ...) is fed at run "
                           "time; radrt fixes these at compile time"),
    ("condition known at compile time", "If with a runtime condition"),
    ("cannot be folded", "an op radrt only folds at compile time, fed runtime data"),
    ("training_mode", "training mode; radrt runs inference only"),
    ("element type", "an element type radrt does not load"),
    ("", "a tensor type radrt does not compute in (kernels compute float32)"),
]


FLOAT16_REASON = ("float16: radrt computes in float32 between the model's casts (runtime.half) where the "
                  "reference rounds every op's output to float16; the difference exceeds the test's tolerance")


def _reason(error: Exception, name: str = "") -> str:
    text = str(error)
    if isinstance(error, AssertionError):
        if "fp16" in name or "float16" in name:
            return FLOAT16_REASON
        return "WRONG RESULT: " + text.strip().splitlines()[0]
    return next(reason for key, reason in _REASONS if key in text)


def _update():
    passing, left_out = [], {}
    for name in candidates():
        try:
            run_case(name)
            passing.append(name)
        except Exception as e:
            left_out.setdefault(_reason(e, name), []).append(name)
    with open(MANIFEST, "w") as f:
        f.write("# ONNX backend node tests that radrt passes (reviewed; see node_cases.py).\n"
                "# One test name a line. Candidates not listed are expected to fail; why, by group:\n")
        for reason, names in sorted(left_out.items(), key=lambda kv: -len(kv[1])):
            f.write(f"#\n# {len(names)} left out: {reason}:\n")
            line = "#  "
            for n in names:
                if len(line) + len(n) > 100:
                    f.write(line + "\n")
                    line = "#  "
                line += " " + n
            f.write(line + "\n")
        f.write("\n")
        for n in passing:
            f.write(n + "\n")
    print(f"{len(passing)} of {len(candidates())} candidates pass")


if __name__ == "__main__":
    _update()
