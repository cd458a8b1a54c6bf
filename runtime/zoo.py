"""The real CNN architectures that ship inside the onnx wheel (no network needed).

Their weights are all 0.02 (IR 3, ConstantOfShape of shape initializers), so
tests, benchmarks and campaigns re-draw them with `runtime.randomize`.
"""
import os

LIGHT_MODELS = ("bvlc_alexnet", "densenet121", "inception_v1", "inception_v2", "resnet50",
                "shufflenet", "squeezenet", "vgg19", "zfnet512")


def light_model_dir() -> str:
    import onnx
    return os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")


def light_model_path(name: str) -> str:
    short = name[len("light_"):] if name.startswith("light_") else name
    if short not in LIGHT_MODELS:
        raise ValueError(f"light model '{name}' is not one of {', '.join(LIGHT_MODELS)}")
    path = os.path.join(light_model_dir(), f"light_{short}.onnx")
    if not os.path.exists(path):
        raise ValueError(f"light model '{name}': {path} is missing from the installed onnx package")
    return path
