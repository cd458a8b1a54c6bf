"""Structure fuzzer for radrt (issue 9): seeded model generator + subprocess driver.

    python -m tests.fuzz.driver --models 100000 --seed 0 --workers 2 --out fuzz-out

`generator.generate(seed)` builds one model (deterministic per seed); `driver`
runs each model in a forked child and records what escaped.
"""
