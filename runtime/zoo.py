"""The real CNN architectures that ship inside the onnx wheel (no network needed).

Their weights are all 0.02 (IR 3, ConstantOfShape of shape initializers), so
tests, benchmarks and campaigns re-draw them with `runtime.randomize`.
"""
import os

from .errors import ModelLoadError

LIGHT_MODELS = ("bvlc_alexnet", "densenet121", "inception_v1", "inception_v2", "resnet50",
                "shufflenet", "squeezenet", "vgg19", "zfnet512")


def light_model_dir() -> str:
    import onnx
    return os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")


def light_model_path(name: str) -> str:
    short = name[len("light_"):] if name.startswith("light_") else name
    if short not in LIGHT_MODELS:
        raise ModelLoadError(f"light model '{name}' is not one of {', '.join(LIGHT_MODELS)}")
    path = os.path.join(light_model_dir(), f"light_{short}.onnx")
    if not os.path.exists(path):
        raise ModelLoadError(f"light model '{name}': {path} is missing from the installed onnx package")
    return path


# DLR's ukis-csmask (Apache-2.0, PyPI): cloud and cloud-shadow masks for Sentinel-2 and
# Landsat tiles, a U-Net on an EfficientNet-B4 encoder in float16. Classes 0 clear,
# 1 cloud, 2 cloud shadow; input (N, bands, 256, 256) float32 reflectances, normalised
# with the statistics in the model's .json; bands blue, green, red, nir (+ swir16,
# swir22 for 6 bands). Installed by `make demo` / `make test` (never committed).
UKIS_PACKAGE = "ukis_csmask"
UKIS_VERSION = "1.0.0"


def ukis_model_path(bands: int, level: str = "l2a") -> str:
    """Path of the installed ukis-csmask model for `bands` (4 or 6) and processing `level`
    ('l1c' top-of-atmosphere or 'l2a' surface reflectance). ModelLoadError when the
    package is not installed or lacks the file."""
    import importlib.util
    if bands not in (4, 6) or level not in ("l1c", "l2a"):
        raise ModelLoadError(f"ukis-csmask model {bands} bands, level {level!r}: expected 4 or 6 bands and "
                             f"level 'l1c' or 'l2a'")
    spec = importlib.util.find_spec(UKIS_PACKAGE)   # locates it without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(f"the ukis-csmask package is not installed (pip install --no-deps "
                             f"ukis-csmask=={UKIS_VERSION})")
    path = os.path.join(list(spec.submodule_search_locations)[0], f"model_{bands}b_{level}.onnx")
    if not os.path.exists(path):
        raise ModelLoadError(f"ukis-csmask model {path} is missing from the installed package")
    return path


def model_bytes(spec: str) -> bytes:
    """The bytes of an .onnx path, or of a light model (by name) with weights re-drawn (seed 0)."""
    short = spec[len("light_"):] if spec.startswith("light_") else spec
    if short in LIGHT_MODELS and not os.path.exists(spec):
        import onnx

        from .randomize import randomize_weights
        return randomize_weights(onnx.load(light_model_path(short)), seed=0).SerializeToString()
    try:
        os.stat(spec)
    except OSError as e:
        raise ModelLoadError(f"model '{spec}': not a readable file ({e.strerror}) nor a light model "
                             f"name ({', '.join(LIGHT_MODELS)})") from e
    from .load import read_model_file
    from .sizes import default_max_memory_bytes
    # A regular file within the default budget, read with a bound (not /dev/zero, not a FIFO).
    return read_model_file(f"model '{spec}'", spec, default_max_memory_bytes())
