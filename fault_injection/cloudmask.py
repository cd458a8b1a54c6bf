"""The demo's first scene: cloud and cloud-shadow masking of a Sentinel-2-like tile with
DLR's ukis-csmask model (6 bands, L2A), under protection and under an upset storm.

    tile, truth = synthetic_tile(seed=0)       # (6, 256, 256) float32 reflectances, (256, 256) labels
    x = normalise(tile, model_path)            # (1, 6, 256, 256), the model's band statistics
    mask = class_mask(logits)                  # (256, 256) uint8: 0 clear, 1 cloud, 2 shadow

The tile is synthesised (no Sentinel-2 sample ships in a registry package this project
can use): smooth random fields lay out vegetation with lakes and bare-soil patches; a
smooth cloud field above a threshold is cloud, and the cloud mask shifted along the sun
azimuth darkens the ground below to a quarter as shadow. Ground reflectances (surface
reflectance, L2A; blue B2, green B3, red B4, nir B8, swir16 B11, swir22 B12) are the
textbook ones: water dark and darker in the infrared, vegetation's red edge (low red,
high nir), soil rising towards the swir. The cloud is thick and flat-bright (0.8 in
every band): real clouds are darker in the swir, but on such synthetic tiles the model
finds much less of a swir-dark cloud, and it finds none of the synthetic shadows (it
has learnt real scenes, not this recipe). Each pixel gets 3% multiplicative noise.
`truth` is what the tile was built from, for the reader; the scene's checks compare
radrt with onnxruntime and protected with unprotected runs, never with the truth.

The model's input is (reflectance - mean) / std per band with the statistics in the
model's .json (ukis-csmask's own normalisation); its output is (1, 3, 256, 256) logits,
the class is their argmax.
"""
import json
from pathlib import Path
from typing import Tuple

import numpy as np

BANDS = ("blue", "green", "red", "nir", "swir16", "swir22")
# Typical surface reflectance per band (fraction, 0-1).
REFLECTANCE = {
    "water":      (0.060, 0.050, 0.030, 0.020, 0.010, 0.005),
    "vegetation": (0.030, 0.070, 0.040, 0.380, 0.200, 0.090),
    "soil":       (0.100, 0.140, 0.180, 0.250, 0.320, 0.280),
    "cloud":      (0.800, 0.800, 0.800, 0.800, 0.800, 0.800),
}
SHADOW_FACTOR = 0.25
CLASSES = ("clear", "cloud", "shadow")
# Mask colours (RGB) for the PNG: clear ground grey-green, cloud white, shadow dark blue.
CLASS_COLOURS = np.array([[90, 140, 90], [250, 250, 250], [30, 40, 120]], np.uint8)


def smooth_field(rng: np.random.Generator, size: int, scale: float) -> np.ndarray:
    """A (size, size) random field, Gaussian-smoothed with std `scale` pixels (by FFT),
    normalised to zero mean and unit std."""
    noise = rng.standard_normal((size, size))
    f = np.fft.fftfreq(size)
    kernel = np.exp(-2 * (np.pi * scale) ** 2 * (f[:, None] ** 2 + f[None, :] ** 2))
    field = np.real(np.fft.ifft2(np.fft.fft2(noise) * kernel))
    return (field - field.mean()) / field.std()


def synthetic_tile(seed: int = 0, size: int = 256, cloud_cover: float = 0.25,
                   shadow_shift: Tuple[int, int] = (20, 14)) -> Tuple[np.ndarray, np.ndarray]:
    """((6, size, size) float32 reflectances in BANDS order, (size, size) uint8 labels
    0 clear, 1 cloud, 2 shadow), the module docstring's recipe; cloud_cover is the
    fraction of pixels under cloud, shadow_shift the (rows, cols) from a cloud to its
    shadow."""
    rng = np.random.default_rng(seed)
    land, wet = smooth_field(rng, size, 12.0), smooth_field(rng, size, 20.0)
    ground = np.where(wet > 1.2, 0, np.where(land > 1.0, 2, 1))          # water, soil, else vegetation
    table = np.array([REFLECTANCE["water"], REFLECTANCE["vegetation"], REFLECTANCE["soil"]], np.float64)
    tile = table[ground].transpose(2, 0, 1)                             # (6, size, size)
    cloud_field = smooth_field(rng, size, 20.0)
    cloud = cloud_field > np.quantile(cloud_field, 1.0 - cloud_cover)
    shadow = np.roll(cloud, shadow_shift, axis=(0, 1)) & ~cloud
    tile = np.where(shadow[None], tile * SHADOW_FACTOR, tile)
    tile = np.where(cloud[None], np.array(REFLECTANCE["cloud"])[:, None, None], tile)
    tile = tile * (1 + 0.03 * rng.standard_normal(tile.shape))
    labels = np.where(cloud, 1, np.where(shadow, 2, 0)).astype(np.uint8)
    return np.clip(tile, 0.0, 1.0).astype(np.float32), labels


def band_statistics(model_path) -> Tuple[np.ndarray, np.ndarray]:
    """(mean, std) per band, float32 (bands,), from the model's .json beside it."""
    meta = json.loads(Path(model_path).with_suffix(".json").read_text())
    stats = meta["data"]["dataset_statistics"]
    if tuple(stats["band_names"]) != BANDS:
        raise ValueError(f"{model_path}: bands {stats['band_names']}, expected {list(BANDS)}")
    mean, std = (np.asarray(v, np.float32) for v in stats["img"])
    return mean, std


def normalise(tile: np.ndarray, model_path) -> np.ndarray:
    """(1, 6, H, W) float32 model input: (reflectance - mean) / std per band."""
    mean, std = band_statistics(model_path)
    return ((tile - mean[:, None, None]) / std[:, None, None])[None].astype(np.float32)


def class_mask(logits: np.ndarray) -> np.ndarray:
    """(H, W) uint8 class per pixel from (1, 3, H, W) logits."""
    return logits[0].argmax(axis=0).astype(np.uint8)


def false_colour(tile: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 false-colour picture (nir, red, green as R, G, B; vegetation red),
    stretched by the 2nd-98th percentiles of each band."""
    rgb = tile[[3, 2, 1]].transpose(1, 2, 0).astype(np.float64)
    lo, hi = np.percentile(rgb, 2, axis=(0, 1)), np.percentile(rgb, 98, axis=(0, 1))
    return (np.clip((rgb - lo) / np.maximum(hi - lo, 1e-6), 0, 1) * 255).astype(np.uint8)


def save_png(image: np.ndarray, path) -> None:
    """Write an (H, W, 3) uint8 image as PNG (matplotlib, from the campaign extra)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.imsave(str(path), image)
