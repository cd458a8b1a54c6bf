"""cffi builder of the C kernel core (out-of-line API mode).

Every header `csrc/*.h` and `csrc/<part>/*.h` (parts: kernels, protect, ...;
not tests) is both `#include`d in the generated module and fed to `cdef`
(preprocessor lines dropped, integer `#define`s kept), and every `.c` file
beside them is compiled. Adding an op family is therefore: add
`csrc/kernels/NAME.{h,c}`; nothing here changes.

Build flags: by default the core is built for the machine that builds it
(`-O3 -march=native`). `RADRT_CFLAGS` replaces the optimisation/target flags,
for example `RADRT_CFLAGS="-O3 -mcpu=cortex-a72"` with `CC=aarch64-linux-gnu-gcc`.
"""
import glob
import os
import re
import shlex

from cffi import FFI

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CSRC = os.path.join(ROOT, "csrc")

_KEEP_DEFINE = re.compile(r"^#define\s+\w+\s+-?\d+\s*$")


def _parts():
    return [CSRC] + sorted(d for d in glob.glob(os.path.join(CSRC, "*", ""))
                           if os.path.basename(os.path.dirname(d)) != "tests")


def _headers():
    return [h for part in _parts() for h in sorted(glob.glob(os.path.join(part, "*.h")))]


def _sources():
    return [c for part in _parts() for c in sorted(glob.glob(os.path.join(part, "*.c")))]


def _cdef_text(path):
    keep = []
    with open(path) as f:
        for line in f:
            if line.lstrip().startswith("#") and not _KEEP_DEFINE.match(line.strip()):
                continue
            keep.append(line)
    return "".join(keep)


def _cflags():
    target = os.environ.get("RADRT_CFLAGS", "-O3 -march=native")
    return ["-std=gnu11", "-ffp-contract=fast", "-fno-math-errno", "-Wall"] + shlex.split(target)


ffibuilder = FFI()
for _h in _headers():
    ffibuilder.cdef(_cdef_text(_h), override=True)
ffibuilder.set_source(
    "runtime._core",
    "\n".join('#include "%s"' % os.path.relpath(h, CSRC) for h in _headers()),
    sources=[os.path.relpath(s, ROOT) for s in _sources()],
    include_dirs=[CSRC],
    extra_compile_args=_cflags(),
    libraries=["m"],
)
