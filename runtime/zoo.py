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
