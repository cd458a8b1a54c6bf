# radrt: two commands on a fresh machine.
#   make demo   creates .venv, installs radrt with its reference extras, runs the demo
#   make test   same set-up, then the whole test suite
#   (make test also creates .venv-ground, the ground segment's own install: see ground-venv)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
# Reinstall (and so recompile the C core) when the build inputs change.
BUILD_INPUTS := pyproject.toml setup.py runtime/_build_core.py $(wildcard csrc/*.[ch] csrc/*/*.[ch])
STAMP  := $(VENV)/.radrt-installed
GROUND_VENV  ?= .venv-ground
GROUND_REQS  := tests/link/ground/requirements.txt
GROUND_STAMP := $(GROUND_VENV)/.ground-installed

.PHONY: demo test test-c test-aarch64 hil fuzz build ground-venv clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# ukis-csmask (the cloud-mask models of the demo's first scene and of tests/test_half.py,
# ~145 MB from PyPI, cached by pip, never committed) is installed on its own, without its
# dependencies (radrt reads only its .onnx files): without it the demo skips that scene and
# the tests skip those models, each saying so.
UKIS := ukis-csmask==1.0.0
$(STAMP): $(PY) $(BUILD_INPUTS)
	$(PIP) install --quiet -e '.[test]'
	$(PIP) install --quiet --no-deps '$(UKIS)' || echo "note: $(UKIS) could not be installed: the cloud-mask scene of the demo and its tests will be skipped"
	touch $@

build: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/radrt demo

test: $(STAMP) $(GROUND_STAMP) test-c
	$(PY) -m pytest -q

# The ground segment, a separate install: tmtccmd and the older spacepackets it pins
# (tests/link/ground/requirements.txt), used by tests/link/test_tmtccmd.py to run
# tests/link/ground/tmtccmd_client.py against `radrt serve`. Recreated when the pins change.
$(GROUND_STAMP): $(GROUND_REQS)
	rm -rf $(GROUND_VENV)
	$(PYTHON) -m venv $(GROUND_VENV)
	$(GROUND_VENV)/bin/pip install --quiet -r $(GROUND_REQS)
	touch $@

ground-venv: $(GROUND_STAMP)

# Hardware-in-the-loop scene on ptys: firmware stub <-> noisy line <-> radrt fi serve (tmr),
# 200 inferences of the digits classifier with upsets injected into the runtime.
hil: $(STAMP)
	$(PY) -m fault_injection.hil --records 200 --ber 1e-5 --upset-rate 0.5

# Structure fuzzer (issue 9): FUZZ_MODELS mutated/extreme models, each in a forked child;
# fails on any crash, hang, allocation above the budget or non-RadrtError exception.
# Logs, summary and one repro per finding go to FUZZ_OUT.
FUZZ_MODELS  ?= 100000
FUZZ_SEED    ?= 0
FUZZ_WORKERS ?= 2
FUZZ_OUT     ?= build/fuzz
fuzz: $(STAMP)
	$(PY) -m tests.fuzz.driver --models $(FUZZ_MODELS) --seed $(FUZZ_SEED) --workers $(FUZZ_WORKERS) --out $(FUZZ_OUT)

# C kernel unit tests, natively under AddressSanitizer and UndefinedBehaviorSanitizer,
# then built for baseline x86-64 without AVX (the kernels' generic 4-lane paths).
test-c:
	$(MAKE) -j2 -C csrc test
	$(MAKE) -j2 -C csrc test-portable

# The same C tests cross-compiled for aarch64 and run under qemu (installs Debian's
# cross gcc and qemu-user when run as root; otherwise prints the apt-get command).
test-aarch64:
	$(MAKE) -j2 -C csrc test-aarch64

clean:
	rm -rf build *.egg-info runtime/_core.* .pytest_cache .hypothesis
	$(MAKE) -C firmware_stubs clean
