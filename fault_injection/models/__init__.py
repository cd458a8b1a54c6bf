"""The reference classifier of fault-injection campaigns: a small CNN trained on
scikit-learn's handwritten digits (see README.md beside this file), and its held-out set.

Neither accessor imports scikit-learn: the held-out images ship in `digits_heldout.npz`.
"""
from pathlib import Path
from typing import Tuple

import numpy as np

_HERE = Path(__file__).resolve().parent


def digits_model_path() -> Path:
    """Path of `digits_cnn.onnx`: input "input" float32 (1, 1, 8, 8) in [0, 1], output "logits" (1, 10)."""
    return _HERE / "digits_cnn.onnx"


def load_heldout() -> Tuple[np.ndarray, np.ndarray]:
    """The held-out set: images float32 (N, 1, 8, 8) scaled to [0, 1], labels int64 (N,)."""
    with np.load(_HERE / "digits_heldout.npz") as data:
        return data["images"], data["labels"]


__all__ = ["digits_model_path", "load_heldout"]
