"""The `radrt` command: inspect, run, randomize-weights, demo.

Exit codes: 0 success, 1 a failed check (e.g. a demo mismatch), 2 bad input
(unreadable or unsupported model, bad arguments).
"""
import argparse
import hashlib
import json
import os
import sys
from typing import Dict, List

import numpy as np

from .errors import RadrtError
from .protect import MODES


def _parse_shape_args(items: List[str]) -> Dict[str, tuple]:
    shapes = {}
    for item in items or []:
        name, sep, dims = item.partition("=")
        try:
            if not sep:
                raise ValueError
            shapes[name] = tuple(int(d) for d in dims.split(","))
        except ValueError:
            raise SystemExit(f"radrt: --input-shape '{item}': expected NAME=D1,D2,... with integer dims")
    return shapes


def random_feeds(sess, seed: int = 0) -> Dict[str, np.ndarray]:
    """Inputs drawn with a fixed seed: floats uniform in [0, 1), integers in [0, 10)."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for arg in sess.get_inputs():
        shape = [d if isinstance(d, int) else 1 for d in arg.shape]
        dtype = arg.dtype
        if dtype.kind == "f":
            feeds[arg.name] = rng.random(shape, dtype=np.float32).astype(dtype)
        elif dtype.kind == "b":
            feeds[arg.name] = rng.random(shape) < 0.5
        else:
            feeds[arg.name] = rng.integers(0, 10, shape).astype(dtype)
    return feeds


def _load_feeds(items: List[str]) -> Dict[str, np.ndarray]:
    feeds = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep:
            raise SystemExit(f"radrt: --input '{item}': expected NAME=FILE.npy")
        try:
            feeds[name] = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise SystemExit(f"radrt: --input '{item}': cannot read '{path}' as a .npy array ({e})")
    return feeds


def cmd_inspect(args) -> int:
    from .describe import describe
    from .session import InferenceSession
    sess = InferenceSession(args.model, input_shapes=_parse_shape_args(args.input_shape) or None)
    print(describe(sess.compiled, os.path.basename(args.model)))
    return 0


def cmd_run(args) -> int:
    from .session import InferenceSession
    sess = InferenceSession(args.model, protection=args.protect)
    feeds = _load_feeds(args.input) if args.input else random_feeds(sess, args.seed)
    outputs = sess.run(None, feeds)
    names = [o.name for o in sess.get_outputs()]
    if args.json:
        print(json.dumps({
            "model": args.model,
            "protection": args.protect,
            "latency_ms": round(sess.last_latency_s * 1e3, 3),
            "health": sess.health(),
            "outputs": [{"name": n, "shape": list(y.shape), "dtype": str(y.dtype),
                         "sha256": hashlib.sha256(np.ascontiguousarray(y).tobytes()).hexdigest()}
                        for n, y in zip(names, outputs)],
        }))
    else:
        for n, y in zip(names, outputs):
            flat = y.reshape(-1)
            extra = f", argmax {int(flat.argmax())}" if y.dtype.kind == "f" and flat.size else ""
            print(f"{n}: {y.dtype} {tuple(y.shape)}{extra}, first values {np.array2string(flat[:5], precision=5)}")
        print(f"latency: {sess.last_latency_s * 1e3:.2f} ms (protection {args.protect})")
    return 0


def cmd_randomize(args) -> int:
    import onnx

    from .load import load_model
    from .randomize import randomize_weights
    model = randomize_weights(load_model(args.input).proto, args.seed)
    onnx.save(model, args.output)
    print(f"wrote {args.output} (weights re-drawn with seed {args.seed})")
    return 0


def cmd_bench(args) -> int:
    from .bench import run_bench
    return run_bench(args)


def cmd_demo(args) -> int:
    from .demo import run_demo
    return run_demo(args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="radrt", description="Radiation-tolerant edge inference runtime.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("inspect", help="print ops, shapes, FLOPs and the memory plan of a model")
    s.add_argument("model")
    s.add_argument("--input-shape", action="append", metavar="NAME=D1,D2,...",
                   help="fix a symbolic input dimension")
    s.set_defaults(fn=cmd_inspect)

    s = sub.add_parser("run", help="run a model once")
    s.add_argument("model")
    s.add_argument("--input", action="append", default=[], metavar="NAME=FILE.npy",
                   help="an input; without any, inputs are random with --seed")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--protect", default="none", choices=MODES, help="protection mode (default none)")
    s.add_argument("--json", action="store_true", help="print outputs' shape, dtype, SHA-256 and latency as JSON")
    s.set_defaults(fn=cmd_run)

    s = sub.add_parser("randomize-weights", help="re-draw every float weight at random (seeded)")
    s.add_argument("input")
    s.add_argument("output")
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(fn=cmd_randomize)

    s = sub.add_parser("bench", help="median latency, optionally against onnxruntime (1 thread)")
    s.add_argument("models", nargs="+", metavar="MODEL", help="an .onnx path or a light model name")
    s.add_argument("--vs-ort", action="store_true", help="also time onnxruntime, interleaved")
    s.add_argument("--repeat", type=int, default=20, help="timed runs per runtime (default 20)")
    s.add_argument("--protect", action="append", metavar="MODE",
                   help="protection mode to time (none, scrub, dwc, tmr); repeatable; default none")
    s.add_argument("--json", action="store_true", help="one JSON object per model and mode")
    s.set_defaults(fn=cmd_bench)

    from .link.cli import add_commands as add_link
    add_link(sub)

    try:
        from fault_injection.cli import add_commands as add_fault_injection
        add_fault_injection(sub)
    except ImportError:  # a board install without the campaign package
        pass

    s = sub.add_parser("demo", help="run a real CNN from the onnx wheel and compare with onnxruntime")
    s.add_argument("--model", default="squeezenet", help="light model name (default squeezenet)")
    s.set_defaults(fn=cmd_demo)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except (RadrtError, ValueError, OSError) as e:
        print(f"radrt {args.command}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
