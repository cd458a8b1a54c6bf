"""radrt: a radiation-tolerant edge inference runtime.

Pipeline (one module per stage): `load` → `compile` → `plan` → `execute`;
`InferenceSession` ties them together with an onnxruntime-shaped API.
"""
from .errors import (CompileError, ModelLoadError, RadrtError, UncorrectableUpsetError,
                     UnsupportedOpError)
from .session import InferenceSession, NodeArg

__all__ = ["InferenceSession", "NodeArg", "RadrtError", "ModelLoadError", "UnsupportedOpError",
           "CompileError", "UncorrectableUpsetError"]
__version__ = "0.1.0"
