"""Classify one injection's result against the golden (fault-free) run.

The outcome vocabulary is fault_injection.vocabulary.OUTCOMES. This module decides
the outcomes that follow from what a run returned or raised; a worker that died or
exceeded its watchdog is recorded by the executor as `Verdict.crash()` /
`Verdict.hang()`. A run that raised anything but the runtime's
UncorrectableUpsetError is a `crash` too (the inference failed unreported), with
the exception's text.

Decision order for a run that returned or raised:
1. `due`: the run raised the runtime's UncorrectableUpsetError, or the health
   counter `uncorrectable` went up (the runtime reported the upset as unrecoverable,
   so its result must not be used, whatever it is).
2. Output bit-identical to the golden run (every output, byte for byte, so -0.0 vs
   0.0 and NaN payloads count as differences): `corrected` when the health counters
   show a repair during the run (one of runtime.protect.modes.REPAIR_COUNTERS went
   up), else `masked`.
3. `critical_sdc`: the application criterion (`Tolerance.criterion`) failed:
   - `top1` (a classifier: first output of shape (1, K) or (1, K, 1, 1) with K >= 2,
     float): the top-1 class changed. The top-1 class is the argmax (first index on
     ties); an output with a NaN has no class, so NaN where the golden had none
     changes the class. The verdict carries the golden and the faulty class.
   - `iou` (a segmentation output: first output float (N, C, H, W) with C >= 2 and
     H * W > 1; its mask is the argmax over C, a NaN counting as the largest value
     as numpy's argmax does): the mean IoU of the golden and faulty masks is below
     `iou_threshold`. Mean IoU (the Jaccard index averaged over classes, as in the
     PASCAL VOC segmentation benchmark: Everingham et al., "The PASCAL Visual Object
     Classes (VOC) Challenge", IJCV 88(2), 2010, section 4.2) is the mean over the
     classes present in either mask of |A ∩ B| / |A ∪ B|, A and B the pixels of
     that class in the golden and in the faulty mask (over all N images).
   - `none`: no application criterion (any other output): never critical.
   `auto` picks top1 for a classifier, iou for a segmentation output, else none.
4. `tolerable`: every element within the tolerance (below) of the golden value.
5. `sdc`: anything else. A run whose counters claim a repair but whose output is
   wrong lands here too: the repair failed silently.

Tolerance: elementwise |out - golden| <= atol + rtol * |golden|, with the same
rtol = 1e-4, atol = 1e-5 radrt accepts against onnxruntime as float32 rounding:
a difference that small is indistinguishable from a change of kernel or compiler.
Equal infinities are within; NaN is within only where the golden is NaN too.

The IoU threshold defaults to 0.99: an upset that moves more than about 1% of a
class's area (IoU below 0.99) changes what a downstream user of the mask sees, e.g.
a cloud-cover fraction, so it is counted critical; one that moves a few pixels
along a boundary is an `sdc` (or `tolerable`). It is a conservative choice a
mission should set from its own requirement (`--iou-threshold`).
"""
import hashlib
from dataclasses import dataclass, replace
from typing import Mapping, Optional, Sequence, Tuple

import numpy as np

from runtime.errors import InvalidArgumentError, UncorrectableUpsetError
from runtime.protect.modes import REPAIR_COUNTERS  # health counters whose increase means a repair

CRITERIA = ("auto", "top1", "iou", "none")
DEFAULT_IOU_THRESHOLD = 0.99


@dataclass(frozen=True)
class Tolerance:
    """The campaign's acceptance criteria (module docstring): the elementwise tolerance
    (rtol, atol) of `tolerable`, and the application criterion of `critical_sdc`
    (criterion: auto, top1, iou or none; iou_threshold in [0, 1] for iou)."""
    rtol: float = 1e-4
    atol: float = 1e-5
    criterion: str = "auto"
    iou_threshold: float = DEFAULT_IOU_THRESHOLD

    def __post_init__(self):
        for name in ("rtol", "atol"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and np.isfinite(value) and value >= 0):
                raise InvalidArgumentError(f"tolerance {name} must be a finite number >= 0, got {value!r}")
        if self.criterion not in CRITERIA:
            raise InvalidArgumentError(f"criterion {self.criterion!r}: expected one of {', '.join(CRITERIA)}",
                                       argument="criterion", value=self.criterion)
        t = self.iou_threshold
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0.0 <= t <= 1.0:
            raise InvalidArgumentError(f"iou_threshold {t!r}: expected a number from 0 to 1",
                                       argument="iou_threshold", value=t)

    def resolved(self, golden: "Golden") -> "Tolerance":
        """These criteria with `auto` replaced by what the golden output is (top1, iou or
        none); InvalidArgumentError when top1 or iou is asked of an output that is not
        a classifier or a segmentation output."""
        first = golden.outputs[0]
        fits = {"top1": is_classifier_output(first), "iou": is_segmentation_output(first), "none": True}
        if self.criterion == "auto":
            return replace(self, criterion=next(c for c in ("top1", "iou", "none") if fits[c]))
        if not fits[self.criterion]:
            what = ("a classifier output (1, K) or (1, K, 1, 1), K >= 2" if self.criterion == "top1"
                    else "a segmentation output (N, C, H, W), C >= 2, H * W > 1")
            raise InvalidArgumentError(f"--criterion {self.criterion}: the model's first output is "
                                       f"{first.dtype} {tuple(first.shape)}, not {what}",
                                       argument="criterion", value=self.criterion)
        return self

@dataclass(frozen=True)
class Verdict:
    outcome: str
    max_abs_error: Optional[float] = None   # over all outputs; inf when a NaN/Inf differs
    top1_changed: Optional[bool] = None     # None when not a classifier or no output
    error: Optional[str] = None             # the raised error's text, for due/crash
    cause: Optional[str] = None             # masked: why the upset had no effect (MASKED_CAUSES)
    golden_class: Optional[int] = None      # criterion top1: the golden top-1 class
    faulty_class: Optional[int] = None      # criterion top1: the faulty run's (None: a NaN, or no output)
    iou: Optional[float] = None             # criterion iou: mean IoU of the golden and faulty masks

    @classmethod
    def crash(cls, error: str = "") -> "Verdict":
        return cls("crash", error=error or None)

    @classmethod
    def hang(cls, error: str = "") -> "Verdict":
        return cls("hang", error=error or None)

# Why a masked upset had no effect (Verdict.cause of a `masked` outcome). A cause is one
# of these texts, except `converged`, recorded as "converged at op K" (cause_kind maps it back).
NEVER_READ = "never read"
OVERWRITTEN = "overwritten"
PADDING = "padding"
CONVERGED = "converged"
LATENT = "latent in memory"
UNCHANGED = "unchanged"
MASKED_CAUSES = {
    NEVER_READ: "no op of the run reads the upset bytes",
    OVERWRITTEN: "the upset bytes were dead: written again before any op read them",
    PADDING: "alignment padding between tensors: no tensor holds those bytes",
    CONVERGED: "the faulty run's live tensors became bit-identical to the golden run's at op K, "
               "so the rest of the run was the golden one",
    LATENT: "output exact, but the upset weight is still wrong in memory (no scrub ran): later runs may read it",
    UNCHANGED: "no upset at all: a stuck-at, zero or random fault that left every bit as it was "
               "(decided from the golden memory before the run); left out of rates",
}


def converged_at(op_index: int) -> str:
    """The cause text of an upset masked by convergence at op `op_index`."""
    return f"{CONVERGED} at op {int(op_index)}"


def cause_kind(cause: Optional[str]) -> Optional[str]:
    """The MASKED_CAUSES key of a recorded cause text (None stays None); InvalidArgumentError
    for a text that is no cause."""
    if cause is None or cause in MASKED_CAUSES:
        return cause
    head, _, k = cause.rpartition(" at op ")
    if head == CONVERGED and k.isdigit():
        return CONVERGED
    raise InvalidArgumentError(f"masked cause {cause!r} is not one of {', '.join(MASKED_CAUSES)} "
                               f"(converged as 'converged at op K')")


class Golden:
    """The fault-free outputs (copied), with what every classification needs precomputed."""

    def __init__(self, outputs: Sequence[np.ndarray]):
        self.outputs: Tuple[np.ndarray, ...] = tuple(np.array(o, copy=True) for o in outputs)
        if not self.outputs:
            raise InvalidArgumentError("golden run has no outputs")
        self.is_classifier = is_classifier_output(self.outputs[0])
        self.top1: Optional[int] = top1_class(self.outputs[0]) if self.is_classifier else None
        self.mask: Optional[np.ndarray] = (segmentation_mask(self.outputs[0])
                                           if is_segmentation_output(self.outputs[0]) else None)
        self.sha256 = outputs_sha256(self.outputs)

def outputs_sha256(outputs: Sequence[np.ndarray]) -> str:
    """SHA-256 over each output's dtype, shape and bytes (C order), in order."""
    h = hashlib.sha256()
    for arr in outputs:
        arr = np.ascontiguousarray(arr)
        h.update(f"{arr.dtype.str}{arr.shape};".encode())
        h.update(arr.tobytes())
    return h.hexdigest()

def is_classifier_output(arr: np.ndarray) -> bool:
    """A batch of one score vector: shape (1, K) or (1, K, 1, 1), K >= 2, floating point."""
    shape = tuple(arr.shape)
    return (np.issubdtype(arr.dtype, np.floating) and len(shape) in (2, 4) and shape[0] == 1
            and shape[1] >= 2 and all(d == 1 for d in shape[2:]))

def is_segmentation_output(arr: np.ndarray) -> bool:
    """Per-pixel class scores: floating point (N, C, H, W), C >= 2, H * W > 1."""
    shape = tuple(arr.shape)
    return (np.issubdtype(arr.dtype, np.floating) and len(shape) == 4 and shape[1] >= 2
            and shape[2] * shape[3] > 1)


def segmentation_mask(arr: np.ndarray) -> np.ndarray:
    """The class of each pixel: argmax over axis 1 (first index on ties, NaN counts as
    the largest value), int64 (N, H, W)."""
    return np.argmax(np.asarray(arr), axis=1)


def mean_iou(golden_mask: np.ndarray, mask: np.ndarray) -> float:
    """Mean over the classes present in either mask of |A ∩ B| / |A ∪ B| (module
    docstring); 1.0 for equal masks."""
    classes = np.union1d(np.unique(golden_mask), np.unique(mask))
    ious = [np.count_nonzero((golden_mask == c) & (mask == c)) / np.count_nonzero((golden_mask == c) | (mask == c))
            for c in classes]
    return float(np.mean(ious))


def top1_class(arr: np.ndarray) -> Optional[int]:
    """Argmax of a classifier output (first index on ties); None when it holds a NaN."""
    flat = np.asarray(arr).reshape(-1)
    if np.isnan(flat).any():
        return None
    return int(np.argmax(flat))

def health_delta(before: Mapping[str, int], after: Mapping[str, int]) -> dict:
    """after - before for every counter in `after` (a counter missing before counts from 0)."""
    return {k: int(v) - int(before.get(k, 0)) for k, v in after.items()}

def max_abs_error(golden: Sequence[np.ndarray], outputs: Sequence[np.ndarray]) -> float:
    """Largest |out - golden| over all elements; positions equal bit for bit, or both
    NaN, count 0; a NaN or infinity that differs from the golden counts inf."""
    worst = 0.0
    for g, o in zip(golden, outputs):
        g64 = np.asarray(g, dtype=np.float64).reshape(-1)
        o64 = np.asarray(o, dtype=np.float64).reshape(-1)
        same = (g64 == o64) | (np.isnan(g64) & np.isnan(o64))
        if same.all():
            continue
        with np.errstate(invalid="ignore", over="ignore"):    # inf - inf: NaN, counted inf below
            diff = np.abs(o64[~same] - g64[~same])
        diff[~np.isfinite(diff)] = np.inf
        worst = max(worst, float(diff.max()))
    return worst

def within_tolerance(golden: Sequence[np.ndarray], outputs: Sequence[np.ndarray], tolerance: Tolerance) -> bool:
    """Every element as numpy.isclose(out, golden, rtol, atol, equal_nan=True) has it:
    |out - golden| <= atol + rtol x |golden| with a finite golden, or equal, or both NaN;
    computed in the golden's floating type as isclose does, without its per-call checks
    (a campaign classifies thousands of small outputs per second)."""
    for g, o in zip(golden, outputs):
        y = np.asarray(g, dtype=np.result_type(g, 1.0))
        x = np.asarray(o)
        with np.errstate(invalid="ignore", over="ignore"):
            close = (np.abs(x - y) <= tolerance.atol + tolerance.rtol * np.abs(y)) & np.isfinite(y) | (x == y)
            close |= np.isnan(x) & np.isnan(y)
        if not close.all():
            return False
    return True

def _check_shapes(golden: Golden, outputs: Sequence[np.ndarray]) -> None:
    if len(outputs) != len(golden.outputs):
        raise InvalidArgumentError(f"run returned {len(outputs)} outputs, the golden run {len(golden.outputs)}")
    for i, (g, o) in enumerate(zip(golden.outputs, outputs)):
        if o.shape != g.shape or o.dtype != g.dtype:
            raise InvalidArgumentError(f"output {i}: {o.dtype} {tuple(o.shape)} does not match the golden "
                                       f"{g.dtype} {tuple(g.shape)}")

def classify(golden: Golden, outputs: Optional[Sequence[np.ndarray]], *,
             health: Optional[Mapping[str, int]] = None, raised: Optional[BaseException] = None,
             tolerance: Tolerance = Tolerance()) -> Verdict:
    """The outcome of one injected run (see the module docstring for the rules).

    outputs: what the run returned (None when it raised). health: the counters' change
    over the run (`health_delta`). raised: the exception the run raised, if any:
    UncorrectableUpsetError is `due` (detected and reported); any other exception is
    `crash` with its text (the inference failed without the runtime's report)."""
    delta = dict(health or {})
    if raised is not None:
        if isinstance(raised, UncorrectableUpsetError):
            return Verdict("due", error=f"{type(raised).__name__}: {raised}")
        return Verdict.crash(f"{type(raised).__name__}: {raised}")
    if outputs is None:
        raise InvalidArgumentError("classify needs the run's outputs or the exception it raised")
    outputs = [np.asarray(o) for o in outputs]
    _check_shapes(golden, outputs)
    criterion = tolerance.resolved(golden).criterion
    identical = all(g.tobytes() == np.ascontiguousarray(o).tobytes() for g, o in zip(golden.outputs, outputs))
    top1_changed = None
    app = {}  # the application criterion's figures
    if golden.is_classifier:
        faulty = golden.top1 if identical else top1_class(outputs[0])
        top1_changed = faulty != golden.top1
        if criterion == "top1":
            app = {"golden_class": golden.top1, "faulty_class": faulty}
    critical = top1_changed if criterion == "top1" else False
    if criterion == "iou":
        app = {"iou": 1.0 if identical else mean_iou(golden.mask, segmentation_mask(outputs[0]))}
        critical = app["iou"] < tolerance.iou_threshold
    if delta.get("uncorrectable", 0) > 0:
        return Verdict("due", 0.0 if identical else max_abs_error(golden.outputs, outputs), top1_changed,
                       "health counter 'uncorrectable' went up", **app)
    if identical:
        repaired = any(delta.get(k, 0) > 0 for k in REPAIR_COUNTERS)
        return Verdict("corrected" if repaired else "masked", 0.0, top1_changed, **app)
    error = max_abs_error(golden.outputs, outputs)
    if critical:
        return Verdict("critical_sdc", error, top1_changed, **app)
    if within_tolerance(golden.outputs, outputs, tolerance):
        return Verdict("tolerable", error, top1_changed, **app)
    return Verdict("sdc", error, top1_changed, **app)
