"""Inputs drawn at random with a fixed seed, for `radrt run` without --input and for
the tools that need any valid input of a model (campaigns, demo, benchmarks, tests).

One rule for every dtype: floats uniform in [0, 1), booleans fair coins, integers in
[0, 10) (valid as indices of most Gather axes); every symbolic dimension is set to 1.
"""
from typing import Dict

import numpy as np


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
