"""The `radrt` command: inspect, run, randomize-weights, bench, serve and link here;
other commands (`fi`, `demo`: the ground tools of fault_injection) are registered by
their package in the entry point group `radrt.commands`.

Registration: each entry point is named after the one top-level command it adds and
points to `add_commands(subparsers)`. A plugin is loaded only when its command is run,
or when the command word is missing or unknown (so `radrt --help` lists every command),
so a flight command never imports ground code. A plugin that cannot be loaded, or does
not add its command, still gets a command: running it fails with one line naming the
plugin (CommandPluginError, exit 70).

Errors: every failure prints one line `radrt CMD: message` on stderr, never a
traceback (`radrt --debug CMD ...` adds it), and exits with its code:

    0    success
    1    a failed check: a demo mismatch, a replayed fault whose outcome differs,
         a link command the runtime refused or that timed out
    2    InvalidArgumentError, UnknownArgumentError: a bad option or argument
         (argparse errors too), or a file or port that cannot be opened (OSError)
    3    ModelLoadError, UnsupportedOpError: the model is unreadable, invalid or
         uses what radrt does not run
    4    CompileError, SizeOverflowError, MemoryBudgetError; and MemoryError (the
         machine ran out of memory)
    5    UncorrectableUpsetError: protection lost the result
    70   internal error: any other exception is a bug in radrt (EX_SOFTWARE);
         CommandPluginError: a registered command is broken
    130  interrupted (Ctrl-C)

Option values are checked by argparse types that name the option
(`--repeat must be >= 1, got 0`).
"""
import argparse
import hashlib
import json
import os
import sys
import traceback
from typing import Dict, List, Optional, Sequence

import numpy as np

from .errors import CommandPluginError, InvalidArgumentError, RadrtError
from .feeds import random_feeds
from .options import int_option
from .protect import MODES

EX_SOFTWARE = 70  # sysexits.h: internal software error
EX_INTERRUPTED = 130
MAX_BENCH_REPEAT = 10000  # timed runs per runtime: bounds a typo (99999999999) to minutes
MEMORY_ERROR_EXIT = 4  # as CompileError's MemoryBudgetError


def _repeat_option(text: str) -> int:
    """bench --repeat: an int >= 1 (that message first, as documented), at most MAX_BENCH_REPEAT."""
    value = int_option("--repeat", 1)(text)
    if value > MAX_BENCH_REPEAT:
        raise argparse.ArgumentTypeError(f"--repeat must be <= {MAX_BENCH_REPEAT}, got {value}")
    return value


def _parse_shape_args(items: List[str]) -> Dict[str, tuple]:
    shapes = {}
    for item in items or []:
        name, sep, dims = item.partition("=")
        if sep and name in shapes:
            raise InvalidArgumentError(f"--input-shape {item!r}: input '{name}' is given twice (also "
                                       f"{name}={','.join(map(str, shapes[name]))}); give each input once",
                                       argument="--input-shape", value=item)
        try:
            if not sep or not name:
                raise ValueError
            shapes[name] = tuple(int(d) for d in dims.split(","))
        except ValueError:
            raise InvalidArgumentError(f"--input-shape {item!r}: expected NAME=D1,D2,... with integer dims",
                                       argument="--input-shape", value=item) from None
        if any(d < 0 for d in shapes[name]):
            raise InvalidArgumentError(f"--input-shape {item!r}: dims must be >= 0",
                                       argument="--input-shape", value=item)
    return shapes


def _load_feeds(items: List[str]) -> Dict[str, np.ndarray]:
    feeds = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name:
            raise InvalidArgumentError(f"--input {item!r}: expected NAME=FILE.npy", argument="--input", value=item)
        if name in feeds:
            raise InvalidArgumentError(f"--input {item!r}: input '{name}' is given twice; give each input once",
                                       argument="--input", value=item)
        try:
            feeds[name] = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise InvalidArgumentError(f"--input {item!r}: cannot read '{path}' as a .npy array ({e})",
                                       argument="--input", value=item) from e
    return feeds


def cmd_inspect(args) -> int:
    from .describe import describe
    from .session import InferenceSession
    sess = InferenceSession(args.model, input_shapes=_parse_shape_args(args.input_shape) or None,
                            protection=args.protect, scrub_interval_s=None)
    compiled = sess.compiled
    print(describe(compiled, os.path.basename(args.model), sess.fault_sites(), args.protect))
    return 0


def cmd_run(args) -> int:
    from .errors import GatherIndexError
    from .session import InferenceSession
    sess = InferenceSession(args.model, protection=args.protect)
    # The declared symbolic dims, before the run fixes them (random_feeds sets each to 1).
    symbolic = {vi.name: [d for d in vi.shape if not isinstance(d, int)] for vi in sess.get_inputs()}
    feeds = _load_feeds(args.input) if args.input else random_feeds(sess, args.seed)
    try:
        outputs = sess.run(None, feeds)
    except GatherIndexError as e:
        if args.input:
            raise
        raise GatherIndexError(f"{e}; the inputs were drawn at random (integers in [0, 10), seed "
                               f"{args.seed}): give index inputs with --input NAME=FILE.npy",
                               node=e.node, attribute=e.attribute, value=e.value) from e
    names = [o.name for o in sess.get_outputs()]
    if args.json:
        print(json.dumps({
            "model": args.model,
            "protection": args.protect,
            "inputs": [{"name": n, "shape": list(x.shape), "dtype": str(x.dtype),
                        "random": not args.input} for n, x in feeds.items()],
            "latency_ms": round(sess.last_latency_s * 1e3, 3),
            "health": sess.health(),
            "outputs": [{"name": n, "shape": list(y.shape), "dtype": str(y.dtype),
                         "sha256": hashlib.sha256(np.ascontiguousarray(y).tobytes()).hexdigest()}
                        for n, y in zip(names, outputs)],
        }))
    else:
        for n, x in feeds.items():
            how = "from --input" if args.input else f"random (seed {args.seed})"
            dims = symbolic.get(n)
            if dims and not args.input:
                how += f", symbolic dims {', '.join(map(repr, dims))} set to 1"
            print(f"input {n}: {x.dtype} {tuple(x.shape)} {how}")
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


class RadrtArgumentParser(argparse.ArgumentParser):
    """argparse with radrt's error line: `radrt CMD: message`, exit 2, no usage block.

    Subcommand parsers inherit the class, so `radrt fi run` and `radrt link ping`
    report the same way.
    """

    def error(self, message: str):
        head, sep, rest = message.partition(": ")
        if sep and head.startswith("argument "):
            option = head[len("argument "):].split("/")[0]
            # An option type's message already names the option; argparse's own does not.
            message = rest if rest.startswith(option) else f"{option}: {rest}"
        self.exit(2, f"{self.prog}: {message}\n")


def build_parser(argv: Optional[Sequence[str]] = None) -> argparse.ArgumentParser:
    """The parser of `radrt`, with the registered commands `argv` may need (see the top)."""
    p = RadrtArgumentParser(prog="radrt", description="Radiation-tolerant edge inference runtime.")
    p.add_argument("--version", action="version", version=f"radrt {package_version()}")
    p.add_argument("--debug", action="store_true", help="on an error, print the Python traceback too")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("inspect", help="print ops, shapes, FLOPs, the memory plan and the exposed bits of a model")
    s.add_argument("model")
    s.add_argument("--protect", default="none", choices=MODES,
                   help="protection mode whose copies and replicas count as exposed bits (default none)")
    s.add_argument("--input-shape", action="append", metavar="NAME=D1,D2,...",
                   help="fix a symbolic input dimension")
    s.set_defaults(fn=cmd_inspect)

    s = sub.add_parser("run", help="run a model once")
    s.add_argument("model")
    s.add_argument("--input", action="append", default=[], metavar="NAME=FILE.npy",
                   help="an input; without any, inputs are random with --seed (floats in [0, 1), "
                        "integers in [0, 10), symbolic dims 1)")
    s.add_argument("--seed", type=int_option("--seed", 0), default=0)
    s.add_argument("--protect", default="none", choices=MODES, help="protection mode (default none)")
    s.add_argument("--json", action="store_true", help="print outputs' shape, dtype, SHA-256 and latency as JSON")
    s.set_defaults(fn=cmd_run)

    s = sub.add_parser("randomize-weights", help="re-draw every float weight at random (seeded)")
    s.add_argument("input")
    s.add_argument("output")
    s.add_argument("--seed", type=int_option("--seed", 0), default=0)
    s.set_defaults(fn=cmd_randomize)

    s = sub.add_parser("bench", help="median latency, optionally against onnxruntime (1 thread)")
    s.add_argument("models", nargs="+", metavar="MODEL", help="an .onnx path or a light model name")
    s.add_argument("--vs-ort", action="store_true", help="also time onnxruntime, interleaved")
    s.add_argument("--repeat", type=_repeat_option, default=20,
                   help=f"timed runs per runtime, 1 to {MAX_BENCH_REPEAT} (default 20)")
    s.add_argument("--protect", action="append", metavar="MODE", choices=MODES,
                   help="protection mode to time (" + ", ".join(MODES) + "); repeatable; default none")
    s.add_argument("--json", action="store_true", help="one JSON object per model and mode")
    s.set_defaults(fn=cmd_bench)

    from .link.cli import add_commands as add_link
    add_link(sub)

    words = [a for a in (sys.argv[1:] if argv is None else argv) if not a.startswith("-")]
    command = words[0] if words else None  # radrt's own options (--debug, --version, -h) take no value
    if command not in sub.choices:
        plugins = command_plugins()
        wanted = [command] if command in plugins else sorted(plugins)
        for name in wanted:
            if name in sub.choices:  # a plugin never replaces a command of radrt itself
                print(f"radrt: command plugin '{name}' ({', '.join(plugins[name])}, entry point group "
                      f"{COMMANDS_GROUP}) ignored: '{name}' is a command of radrt itself", file=sys.stderr)
            else:
                add_plugin_command(sub, name, plugins[name])
    return p


COMMANDS_GROUP = "radrt.commands"


def command_plugins() -> Dict[str, List[str]]:
    """Command name → the targets registered for it in COMMANDS_GROUP ("module:function"),
    over every installed distribution (one name seen twice with one target, as an editable
    install's metadata can be, is one registration)."""
    from importlib.metadata import entry_points
    found = entry_points()
    found = found.select(group=COMMANDS_GROUP) if hasattr(found, "select") else found.get(COMMANDS_GROUP, [])
    plugins: Dict[str, List[str]] = {}
    for ep in found:
        targets = plugins.setdefault(ep.name, [])
        if ep.value not in targets:
            targets.append(ep.value)
    return plugins


def add_plugin_command(sub, name: str, targets: List[str]) -> None:
    """Adds command `name` by calling its registered add_commands(sub); when that fails, a
    stand-in command whose run raises CommandPluginError naming the plugin and the cause."""
    from importlib.metadata import EntryPoint
    where = f"command plugin '{name}' ({', '.join(targets)}, entry point group {COMMANDS_GROUP})"
    if len(targets) > 1:
        _add_broken_command(sub, name, CommandPluginError(
            f"{where}: registered {len(targets)} times; expected one registration per command",
            argument=name, value=targets))
        return
    try:
        EntryPoint(name, targets[0], COMMANDS_GROUP).load()(sub)
    except Exception as e:  # any failure of a plugin is reported when its command is run
        error = CommandPluginError(f"{where} cannot be loaded: {type(e).__name__}: {' '.join(str(e).split())}",
                                   argument=name, value=targets[0])
        error.__cause__ = e
        _add_broken_command(sub, name, error)
        return
    if name not in sub.choices:
        _add_broken_command(sub, name, CommandPluginError(
            f"{where} did not add the command '{name}'; expected add_commands to add it",
            argument=name, value=targets[0]))


def _add_broken_command(sub, name: str, error: CommandPluginError) -> None:
    sub.choices.pop(name, None)  # what a plugin that failed half-way added
    # No option prefix: every word after the command, even -h, goes to `words`, so
    # running it always ends in the plugin's error.
    s = sub.add_parser(name, help=f"unavailable: {error}", add_help=False, prefix_chars="\0")
    s.add_argument("words", nargs=argparse.REMAINDER)

    def fail(args) -> int:
        raise error
    s.set_defaults(fn=fail)


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("radrt")
    except PackageNotFoundError:  # run from a source tree that was never installed
        from . import __version__
        return f"{__version__} (not installed)"


def command_name(args: argparse.Namespace) -> str:
    """'bench', 'fi run', 'link ping': the words after `radrt` that chose the command."""
    words = [args.command] + [getattr(args, k) for k in ("fi_command", "link_command") if getattr(args, k, None)]
    return " ".join(words)


def report_error(args: argparse.Namespace, e: BaseException) -> int:
    """Print the one error line for `e` (and the traceback with --debug); return the exit code."""
    if getattr(args, "debug", False):
        traceback.print_exception(type(e), e, e.__traceback__, file=sys.stderr)
    text = " ".join(str(e).split())  # one line, whatever the message held
    if isinstance(e, RadrtError):
        code, line = e.exit_code, text
    elif isinstance(e, MemoryError):
        code, line = MEMORY_ERROR_EXIT, f"out of memory (MemoryError){': ' + text if text else ''}"
    elif isinstance(e, KeyboardInterrupt):
        code, line = EX_INTERRUPTED, "interrupted"
    elif isinstance(e, OSError):
        code, line = 2, text or type(e).__name__
    else:
        code = EX_SOFTWARE
        line = f"internal error: {type(e).__name__}: {text}" + ("" if getattr(args, "debug", False)
                                                                else " (run with --debug for the traceback)")
    print(f"radrt {command_name(args)}: {line}", file=sys.stderr)
    return code


def main(argv=None) -> int:
    args = build_parser(argv).parse_args(argv)
    try:
        return args.fn(args)
    except (Exception, KeyboardInterrupt) as e:  # every error ends as one line and an exit code
        return report_error(args, e)


if __name__ == "__main__":
    sys.exit(main())
