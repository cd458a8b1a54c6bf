"""The inputs of a campaign: each one gets its own golden (fault-free) run.

Where they come from (`campaign_inputs`):
- `--inputs FILE.npz`: one array per model input name, stacked on a new first
  axis: sample i of input `x` is `arr[i:i+1]`, so the array's shape is
  (N, *shape[1:]) where `shape` is the model input's shape, whose first (batch)
  dimension must be 1 (or symbolic, then set to 1). Every array has the same N and
  exactly the model input's dtype; no array may be missing or extra.
- `--inputs DIR`: one `.npz` per sample, taken in order of file name; each holds one
  array per model input name with the model input's full shape (batch 1) and dtype.
  Any other entry of the folder (a `.npy`, a sub-folder, a text file) is refused
  by name, so nothing is silently skipped.
- no `--inputs`: for `digits`, the shipped held-out set (fault_injection.models,
  load_heldout), 450 images; for any other model one input drawn with seed 0
  (runtime.feeds.random_feeds; `random_count` draws seeds 0, 1, ...).
`count` (`--input-count N`) keeps the first N samples.

A mismatch is InvalidArgumentError naming the file, the array, its shape (or dtype)
and the expected one; all samples must share their shapes (one memory plan).

Digests (recorded in the campaign database): `feeds_sha256` of one sample is
SHA-256 over, for each input name in sorted order, the name, dtype, shape and C-order
bytes; `inputs_sha256` of the campaign is SHA-256 over the samples' digests in order.
"""
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from runtime.errors import InvalidArgumentError
from runtime.feeds import random_feeds

Feeds = Dict[str, np.ndarray]


@dataclass(frozen=True)
class CampaignInputs:
    """The samples of a campaign, in order, and where they came from."""
    feeds: List[Feeds]
    source: str   # "digits held-out set", "random (seed 0)", or the file/folder given


def feeds_sha256(feeds: Feeds) -> str:
    h = hashlib.sha256()
    for name in sorted(feeds):
        arr = np.ascontiguousarray(feeds[name])
        h.update(f"{name};{arr.dtype.str};{arr.shape};".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def inputs_sha256(samples: List[Feeds]) -> str:
    h = hashlib.sha256()
    for feeds in samples:
        h.update(feeds_sha256(feeds).encode())
    return h.hexdigest()


def _expected(sess):
    """{input name: (shape with batch 1 for a symbolic first dimension, dtype)}."""
    out = {}
    for arg in sess.get_inputs():
        shape = [d if isinstance(d, int) else None for d in arg.shape]
        out[arg.name] = (shape, np.dtype(arg.dtype))
    return out


def _shape_text(shape) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"


def _check_array(where: str, name: str, arr: np.ndarray, shape, dtype) -> None:
    if arr.dtype != dtype:
        raise InvalidArgumentError(f"{where}: array '{name}' has dtype {arr.dtype}, the model input '{name}' "
                                   f"expects {dtype}", argument="inputs", value=where)
    if len(arr.shape) != len(shape) or any(d is not None and d != a for d, a in zip(shape, arr.shape)):
        raise InvalidArgumentError(f"{where}: array '{name}' has shape {tuple(arr.shape)}, expected "
                                   f"{_shape_text(shape)}", argument="inputs", value=where)


def _check_names(where: str, names, expected) -> None:
    missing = sorted(set(expected) - set(names))
    extra = sorted(set(names) - set(expected))
    if missing or extra:
        what = (f"no array for model input '{missing[0]}'" if missing
                else f"array '{extra[0]}' is not a model input")
        raise InvalidArgumentError(f"{where}: {what} (model inputs: {', '.join(sorted(expected))})",
                                   argument="inputs", value=where)


def _load_npz(path: Path) -> Dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            if not hasattr(data, "files"):
                raise ValueError("not an .npz archive")
            return {k: data[k] for k in data.files}
    except (OSError, ValueError) as e:
        raise InvalidArgumentError(f"--inputs {path}: cannot be read as an .npz archive ({e})",
                                   argument="inputs", value=str(path)) from e


def load_inputs_file(path: Path, sess) -> List[Feeds]:
    """Samples of an .npz whose arrays are stacked on a first sample axis (module docstring)."""
    expected = _expected(sess)
    arrays = _load_npz(path)
    _check_names(str(path), arrays, expected)
    counts = set()
    for name, (shape, dtype) in expected.items():
        if shape and shape[0] not in (None, 1):
            raise InvalidArgumentError(f"--inputs {path}: model input '{name}' has batch {shape[0]}; a stacked "
                                       f".npz needs batch-1 inputs (give a folder of one .npz per sample)",
                                       argument="inputs", value=str(path))
        _check_array(str(path), name, arrays[name], [None] + shape[1:], dtype)
        counts.add(arrays[name].shape[0])
    if len(counts) != 1:
        raise InvalidArgumentError(f"--inputs {path}: arrays hold different sample counts "
                                   f"({', '.join(f'{k}: {v.shape[0]}' for k, v in sorted(arrays.items()))})",
                                   argument="inputs", value=str(path))
    n = counts.pop()
    return [{name: np.ascontiguousarray(arrays[name][i:i + 1]) for name in expected} for i in range(n)]


def load_inputs_dir(path: Path, sess) -> List[Feeds]:
    """Samples of a folder of one .npz per sample, by file name (module docstring)."""
    expected = _expected(sess)
    entries = sorted(path.iterdir(), key=lambda p: p.name)
    bad = [p for p in entries if not (p.is_file() and p.suffix == ".npz")]
    if bad:
        raise InvalidArgumentError(f"--inputs {path}: '{bad[0].name}' is not an .npz file; the folder must hold "
                                   f"only one .npz per sample", argument="inputs", value=str(path))
    samples = []
    for p in entries:
        arrays = _load_npz(p)
        _check_names(str(p), arrays, expected)
        for name, (shape, dtype) in expected.items():
            _check_array(str(p), name, arrays[name], [1 if d is None and i == 0 else d for i, d in enumerate(shape)],
                         dtype)
        samples.append({name: np.ascontiguousarray(arrays[name]) for name in expected})
    return samples


def campaign_inputs(model: str, sess, inputs: Optional[str] = None, count: Optional[int] = None,
                    random_count: int = 1) -> CampaignInputs:
    """The campaign's samples (see the module docstring); `count` keeps the first N;
    `random_count`: how many seeded random inputs (seeds 0, 1, ...) a model without
    `--inputs` or a held-out set gets (`radrt soak` cycles over several)."""
    if inputs is not None:
        path = Path(inputs)
        if path.is_dir():
            samples = load_inputs_dir(path, sess)
        elif path.is_file() and path.suffix == ".npz":
            samples = load_inputs_file(path, sess)
        elif not path.exists():
            raise InvalidArgumentError(f"--inputs {inputs}: no such file or folder", argument="inputs", value=inputs)
        else:
            raise InvalidArgumentError(f"--inputs {inputs}: expected a folder of .npz files or one .npz file",
                                       argument="inputs", value=inputs)
        source = str(inputs)
    elif model == "digits":
        from .models import load_heldout
        images, _ = load_heldout()
        name = sess.get_inputs()[0].name
        samples = [{name: np.ascontiguousarray(images[i:i + 1])} for i in range(len(images))]
        source = "digits held-out set"
    else:
        samples = [random_feeds(sess, seed=i) for i in range(random_count)]
        source = "random (seed 0)" if random_count == 1 else f"random (seeds 0-{random_count - 1})"
    if not samples:
        raise InvalidArgumentError(f"--inputs {inputs}: holds no sample", argument="inputs", value=inputs)
    first = {k: v.shape for k, v in samples[0].items()}
    for i, feeds in enumerate(samples):
        other = next((k for k, v in feeds.items() if v.shape != first[k]), None)
        if other is not None:  # a symbolic dimension set two ways: one campaign has one memory plan
            raise InvalidArgumentError(f"--inputs {inputs}: sample {i} has '{other}' of shape "
                                       f"{feeds[other].shape}, sample 0 {first[other]}; every sample of a "
                                       f"campaign must have the same shapes", argument="inputs", value=inputs)
    if count is not None:
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= len(samples):
            raise InvalidArgumentError(f"--input-count {count}: expected 1 to {len(samples)} (the samples of "
                                       f"{source})", argument="input_count", value=count)
        samples = samples[:count]
    return CampaignInputs(samples, source)
