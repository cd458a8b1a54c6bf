"""A fault-injection campaign: golden run, fault list, execution, one SQLite database.

    summary = run_campaign("squeezenet", sites=["weights", "activations", "compute"],
                           fault_model="flip", protect="tmr", faults=500, seed=1,
                           db="squeezenet-tmr.sqlite")

1. The model (a path, a light model name whose weights are re-drawn with seed 0,
   or `digits`, the shipped classifier) is loaded with the chosen protection;
   its inputs are `inputs` (a .npz or a folder, fault_injection.inputs), else the
   held-out set for `digits`, else one seeded random input; `input_count` keeps
   the first N.
2. Each input's golden (fault-free) run, run twice and checked bit-identical,
   gives its reference outputs; input 0's runs give the watchdog's time base.
   The application criterion (`criterion`: auto picks from the output shape,
   fault_injection.outcome) is resolved and recorded in the configuration.
3. The fault list is drawn from the seed over the runtime's own fault sites
   (`fault_injection.plan`), each fault on one input drawn uniformly; its size is
   `faults`, or Leveugle's sample size for `margin` and `confidence` over the
   fault space. Forcing faults that would change no bit (stuck-at on a bit
   already at that value, zero/random on a word already holding it) are recorded
   `masked` (cause `unchanged`) without running (fault_injection.unchanged).
4. The database is created, or reopened to resume: a database of another model,
   configuration, seed or golden output is refused before anything runs, and
   only the faults without a row are executed (none lost, none done twice); a
   recorded row that is not its fault of the list (an edit) is refused.
5. The exposure (fault_injection.estimate: exposed bits per site kind, padding, op
   durations) is measured and stored once, for `fi estimate` and the report.
6. Faults run in persistent worker processes forked from the campaign's
   session (`fault_injection.executor`): a fault whose masked cause the memory
   plan decides (fault_injection.memory_map: padding, never read, overwritten)
   is recorded without running; the others restore the fault-free state at the
   fault's pause point from a snapshot, inject, run until the end or until the
   run has re-converged to the golden one, classify and undo; a watchdog records
   a worker's crash or hang and forks a new one. Locally with `workers`
   processes, or on a Dask distributed cluster (`scheduler`, one worker process
   per task), results streaming into the database.

The background scrubber is off during campaigns (its timing would make outcomes
depend on the machine); the on-demand scrubs that a disagreement triggers are on.
"""
import hashlib
import os
import time
from dataclasses import dataclass, replace
from itertools import chain
from typing import Callable, Dict, Iterator, List, Optional, Sequence

import numpy as np

from runtime import InferenceSession
from runtime.errors import InvalidArgumentError
from runtime.protect import check_mode
from runtime.zoo import model_bytes

from .estimate import STRATA_KEY, record_exposure
from .executor import Executor, PausePoints
from .inputs import campaign_inputs, feeds_sha256, inputs_sha256
from .memory_map import MemoryMap, layer_strata
from .outcome import UNCHANGED, Golden, Tolerance, classify
from .plan import Fault, Site, fault_space_size, faults_sha256, plan_faults, plan_faults_stratified
from .stats import sample_size
from .store import CampaignStore, InjectionRecord
from .unchanged import unchanged_faults
from .vocabulary import FaultModel

INJECTABLE_KINDS = ("weights", "activations", "compute", "input")
STRATIFY_CHOICES = (None, "layer")
RECORD_BATCH = 32


def resolve_model(spec: str) -> bytes:
    if spec == "digits":
        from .models import digits_model_path
        return digits_model_path().read_bytes()
    return model_bytes(spec)


def check_sites(sites: Sequence[str]) -> List[str]:
    kinds = [s.strip() for s in sites if s.strip()]
    bad = [k for k in kinds if k not in INJECTABLE_KINDS]
    if bad or not kinds:
        raise InvalidArgumentError(f"site kind '{bad[0] if bad else ''}': expected some of {', '.join(INJECTABLE_KINDS)}")
    return kinds


@dataclass
class CampaignSetup:
    """Everything a worker needs to reproduce the campaign's golden state: the inputs
    (one feeds dict each) and each one's golden output digest, in order."""
    model: str
    model_bytes: bytes
    protect: str
    inputs: List[Dict[str, np.ndarray]]
    golden_sha256s: List[str]
    tolerance: Tolerance
    timeout_s: float
    run_s: float = 0.01  # median fault-free run time (sizes the executor's batches)
    strata: Optional[dict] = None   # a stratified campaign's strata (prepare)

    @property
    def golden_sha256(self) -> str:
        """The campaign's golden digest: SHA-256 over the inputs' golden digests in order."""
        return campaign_golden_sha256(self.golden_sha256s)

    def session(self):
        return InferenceSession(self.model_bytes, protection=self.protect, scrub_interval_s=None)


def campaign_golden_sha256(golden_sha256s: Sequence[str]) -> str:
    return hashlib.sha256("".join(golden_sha256s).encode()).hexdigest()


def golden_runs(model: str, sess, inputs: List[Dict[str, np.ndarray]]) -> List[Golden]:
    """Each input's golden outputs, from two runs that must be bit-identical."""
    goldens = []
    for i, feeds in enumerate(inputs):
        golden = Golden(sess.run(None, feeds))
        if Golden(sess.run(None, feeds)).sha256 != golden.sha256:
            raise RuntimeError(f"model '{model}', input {i}: two fault-free runs differ; kernels must be "
                               f"deterministic")
        goldens.append(golden)
    return goldens


def prepare(model: str, sites: Sequence[str], fault_model: str, protect: str, seed: int,
            faults: Optional[int] = None, margin: Optional[float] = None, confidence: float = 0.95,
            tolerance: Tolerance = Tolerance(), timeout_factor: float = 20.0,
            inputs: Optional[str] = None, input_count: Optional[int] = None, stratify: Optional[str] = None):
    """Validate, load, run the golden inferences and draw the fault list (nothing written yet).
    Returns (setup, session, goldens, fault list, config).
    stratify: None (uniform draw) or "layer" (fault_injection.plan.plan_faults_stratified
    over memory_map.layer_strata; setup.strata then records each fault's stratum and the
    strata's fault-space sizes and weights)."""
    if stratify not in STRATIFY_CHOICES:
        raise InvalidArgumentError(f"stratify {stratify!r}: expected one of {', '.join(map(str, STRATIFY_CHOICES))}",
                                   argument="stratify", value=stratify)
    kinds = check_sites(sites)
    FaultModel.parse(fault_model)
    check_mode(protect)
    if (faults is None) == (margin is None):
        raise InvalidArgumentError("give either a number of faults or an error margin, not both or neither")
    if faults is not None and (isinstance(faults, bool) or faults < 1):
        raise InvalidArgumentError(f"faults {faults}: expected a positive number of injections")
    data = resolve_model(model)
    sess = InferenceSession(data, protection=protect, scrub_interval_s=None)
    samples = campaign_inputs(model, sess, inputs, input_count)
    feeds = samples.feeds
    goldens = golden_runs(model, sess, feeds)
    tolerance = tolerance.resolved(goldens[0])
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        sess.run(None, feeds[0])
        times.append(time.perf_counter() - t0)
    sites_all = [Site(s.name, s.kind, s.nbytes, s.op_index, s.replica) for s in sess.fault_sites()
                 if s.kind in kinds]
    n_ops = len(sess.compiled.plan.steps)
    space = fault_space_size(sites_all, fault_model, kinds, n_ops, len(feeds))
    count = faults if faults is not None else sample_size(space, margin, confidence)
    strata_doc = None
    if stratify is None:
        fault_list = plan_faults(sites_all, count, seed, fault_model, kinds, n_ops, len(feeds))
    else:
        strata = layer_strata(sess.compiled.plan, sites_all, kinds)
        drawn = plan_faults_stratified(strata, count, seed, fault_model, len(feeds))
        fault_list = [f for f, _ in drawn]
        width = FaultModel.parse(fault_model).width
        sizes = {str(h): sum(max(0, min(g.end, g.site.nbytes * 8 - width + 1) - g.start) for g in segs)
                 for h, segs in strata.items()}
        total = sum(sizes.values())
        strata_doc = {"by": stratify, "allocation": "equal (round-robin)",
                      "by_fault": [str(h) for _, h in drawn],
                      "strata": {h: {"N": n, "W": n / total} for h, n in sizes.items() if n}}
    config = {"model": model, "protect": protect, "sites": kinds, "fault_model": fault_model,
              "faults": count, "margin": margin, "confidence": confidence, "seed": seed,
              "fault_space": space, "faults_sha256": faults_sha256(fault_list),
              "tolerance": {"rtol": tolerance.rtol, "atol": tolerance.atol},
              "criterion": tolerance.criterion, "iou_threshold": tolerance.iou_threshold,
              "inputs": "file" if inputs is not None else samples.source,
              "input_count": len(feeds), "inputs_sha256": inputs_sha256(feeds), "n_ops": n_ops}
    if stratify is not None:  # only then: databases of uniform campaigns keep resuming
        config["stratify"] = stratify
    timeout_s = max(2.0, timeout_factor * float(np.median(times)) * 2)  # x2: a re-execution
    setup = CampaignSetup(model, data, protect, feeds, [g.sha256 for g in goldens], tolerance, timeout_s,
                          float(np.median(times)), strata_doc)
    return setup, sess, goldens, fault_list, config


def static_causes(sess, model_bytes: bytes, memory_map: Optional[MemoryMap] = None):
    """The executor's `static_cause` for this session: fault -> the masked cause the memory
    plan decides without running (fault_injection.memory_map: padding, never read,
    overwritten) or None. The golden mirror copy of `scrub`/`abft` is never decided (no
    replica reads it, but a scrub compares it); an accumulate fault (several upsets) is
    decided only when no op reads any of its upsets (PausePoints)."""
    memory_map = memory_map or MemoryMap.of_session(sess, model_bytes)
    mirrors = {s.name for s in sess.fault_sites() if s.kind == "weights" and s.replica is None}
    points = PausePoints(sess.compiled.plan)

    def cause(fault: Fault) -> Optional[str]:
        if fault.upsets is not None:
            return points.static_cause(fault)
        return memory_map.static_cause(fault, fault.site not in mirrors)
    return cause


def config_tolerance(config: dict) -> Tolerance:
    """The criteria a campaign's configuration recorded."""
    return Tolerance(config["tolerance"]["rtol"], config["tolerance"]["atol"], config["criterion"],
                     config["iou_threshold"])


def unchanged_records(sess, setup: CampaignSetup, goldens: List[Golden], faults: List[Fault]) -> List[InjectionRecord]:
    """`masked` records (cause unchanged) of the forcing faults that change no bit."""
    ids = unchanged_faults(sess, setup.inputs, faults)
    pause_point = PausePoints(sess.compiled.plan)
    records = []
    for f in faults:
        if f.fault_id in ids:
            g = goldens[f.input_index]
            verdict = replace(classify(g, g.outputs, tolerance=setup.tolerance), cause=UNCHANGED)
            records.append(InjectionRecord(f, verdict, 0.0, "golden memory", pause_point.layer(f)))
    return records


def run_campaign(model: str, sites: Sequence[str], fault_model: str, protect: str, seed: int,
                 db: str, faults: Optional[int] = None, margin: Optional[float] = None,
                 confidence: float = 0.95, workers: int = 1, scheduler: Optional[str] = None,
                 prefix_reuse: bool = True, progress: Optional[Callable[[int, int], None]] = None,
                 timeout_factor: float = 20.0, tls: Optional["TlsFiles"] = None,
                 inputs: Optional[str] = None, input_count: Optional[int] = None,
                 tolerance: Tolerance = Tolerance(), stratify: Optional[str] = None) -> dict:
    """Run (or resume) a campaign into `db`; returns the summary (see the module docstring).
    inputs/input_count: fault_injection.inputs; tolerance: the criteria (outcome.Tolerance);
    stratify: None or "layer" (prepare)."""
    security = None
    if scheduler is not None:
        check_scheduler_address(scheduler)  # before the golden run and the database
        security = scheduler_security(scheduler, tls)
    elif tls is not None:
        raise InvalidArgumentError("--tls-ca/--tls-cert/--tls-key secure a Dask scheduler: give --scheduler "
                                   "tls://HOST:PORT too", argument="tls")
    setup, sess, goldens, fault_list, config = prepare(
        model, sites, fault_model, protect, seed, faults, margin, confidence, tolerance,
        timeout_factor=timeout_factor, inputs=inputs, input_count=input_count, stratify=stratify)
    layers = [(step.index, step.node.name, step.node.op_type) for step in sess.compiled.plan.steps]
    input_rows = [(i, feeds_sha256(f), g.sha256, g.top1) for i, (f, g) in enumerate(zip(setup.inputs, goldens))]
    store = CampaignStore.open(db, config=config, model_sha256=hashlib.sha256(setup.model_bytes).hexdigest(),
                               golden_sha256=setup.golden_sha256, seed=seed, layers=layers, inputs=input_rows)
    try:
        store.check_rows(fault_list)
        memory_map = MemoryMap.of_session(sess, setup.model_bytes)
        record_exposure(store, sess, setup.inputs[0], memory_map)
        if setup.strata is not None and store.get_meta(STRATA_KEY) is None:
            store.put_meta(STRATA_KEY, setup.strata)
        todo_ids = set(store.pending(range(len(fault_list))))
        todo = [f for f in fault_list if f.fault_id in todo_ids]
        done_before = len(fault_list) - len(todo)
        if progress:
            progress(done_before, len(fault_list))
        t0 = time.perf_counter()
        skipped = unchanged_records(sess, setup, goldens, todo)
        done_ids = {r.fault.fault_id for r in skipped}
        todo = [f for f in todo if f.fault_id not in done_ids]
        if scheduler:
            records = run_on_dask(setup, todo, scheduler, security)
        elif prefix_reuse:
            records = Executor(sess, setup.inputs, goldens, setup.tolerance, workers, setup.timeout_s,
                               make_session=setup.session, run_s=setup.run_s,
                               static_cause=static_causes(sess, setup.model_bytes, memory_map)).run(todo)
        else:
            records = naive_records(setup, goldens, todo)
        executed = store.record_stream(_counting(chain(skipped, records), progress, done_before, len(fault_list)),
                                       batch=RECORD_BATCH)
        elapsed = time.perf_counter() - t0
        return {"db": str(db), "total": store.count(), "planned": len(fault_list),
                "executed_now": executed, "outcomes": store.outcome_counts(),
                "inputs": f"{len(setup.inputs)} ({config['inputs'] if inputs is None else inputs})",
                "criterion": setup.tolerance.criterion,
                "injections_per_s": round(executed / elapsed, 2) if executed and elapsed > 0 else 0.0}
    finally:
        store.close()
        sess.close()


def _counting(records: Iterator[InjectionRecord], progress, done: int, total: int):
    for record in records:
        done += 1
        if progress:
            progress(done, total)
        yield record


# -- Dask distributed ------------------------------------------------------------------
DASK_BATCH = 16
_WORKER_STATE: Dict[str, tuple] = {}


# Dask's comm protocols (distributed.comm.registry); every one but inproc takes HOST:PORT.
SCHEDULER_PROTOCOLS = ("tcp", "tls", "ws", "wss", "ucx", "inproc")


def check_scheduler_address(text) -> str:
    """A Dask scheduler address [PROTOCOL://]HOST:PORT (protocol tcp by default;
    inproc://NAME in-process), checked without importing Dask; else InvalidArgumentError."""
    if not isinstance(text, str):
        raise InvalidArgumentError(f"scheduler {text!r}: expected an address string", argument="scheduler",
                                   value=text)
    protocol, sep, location = text.partition("://")
    if not sep:
        protocol, location = "tcp", text
    expected = (f"expected [PROTOCOL://]HOST:PORT such as tcp://10.0.0.5:8786 "
                f"(PROTOCOL: {', '.join(SCHEDULER_PROTOCOLS)})")
    if protocol not in SCHEDULER_PROTOCOLS:
        raise InvalidArgumentError(f"protocol {protocol!r} of {text!r} is not one of {', '.join(SCHEDULER_PROTOCOLS)}",
                                   argument="scheduler", value=text)
    if protocol == "inproc":
        if not location:
            raise InvalidArgumentError(f"{text!r} names no in-process scheduler; {expected}",
                                       argument="scheduler", value=text)
        return text
    host, colon, port = location.rpartition(":")
    if not colon or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise InvalidArgumentError(f"address {text!r} has no valid HOST:PORT (port 1 to 65535); {expected}",
                                   argument="scheduler", value=text)
    return text


@dataclass(frozen=True)
class TlsFiles:
    """PEM files securing the connection to a Dask scheduler (mutual TLS): the CA that
    signed the cluster's certificates, and this client's certificate and key."""
    ca: str
    cert: str
    key: str


def scheduler_security(scheduler: str, tls: Optional[TlsFiles]):
    """The client's `distributed.security.Security` for `scheduler`, or None for a plain
    one. A tls:// address needs the three files (and encryption is then required); the
    files need a tls:// address; each file must be readable. Raises InvalidArgumentError
    naming the option and the file."""
    is_tls = scheduler.startswith("tls://")
    if is_tls and tls is None:
        raise InvalidArgumentError(f"--scheduler {scheduler}: a tls:// scheduler needs --tls-ca, --tls-cert and "
                                   f"--tls-key (PEM files: the cluster's CA, this client's certificate and key)",
                                   argument="tls", value=scheduler)
    if tls is None:
        return None
    if not is_tls:
        raise InvalidArgumentError(f"--tls-ca/--tls-cert/--tls-key given, but --scheduler {scheduler} is not "
                                   f"tls://: the connection would not be encrypted; use tls://HOST:PORT",
                                   argument="scheduler", value=scheduler)
    for option, path in (("--tls-ca", tls.ca), ("--tls-cert", tls.cert), ("--tls-key", tls.key)):
        try:
            with open(path, "rb") as f:
                head = f.read(64)
        except OSError as e:
            raise InvalidArgumentError(f"{option} {path}: cannot be read ({e.strerror})", argument=option,
                                       value=path) from e
        if b"-----BEGIN" not in head:
            raise InvalidArgumentError(f"{option} {path}: not a PEM file (no '-----BEGIN' line)", argument=option,
                                       value=path)
    try:
        from distributed.security import Security
    except ImportError as e:
        raise InvalidArgumentError("--scheduler needs Dask distributed: pip install 'radrt[campaign]'") from e
    return Security(tls_ca_file=tls.ca, tls_client_cert=tls.cert, tls_client_key=tls.key, require_encryption=True)


def run_on_dask(setup: CampaignSetup, faults: List[Fault], scheduler, security=None) -> Iterator[InjectionRecord]:
    """Run faults in batches on a Dask cluster; yield records as batches complete.
    `security`: scheduler_security's, for a tls:// scheduler."""
    try:
        from distributed import Client, as_completed
    except ImportError as e:
        raise InvalidArgumentError("--scheduler needs Dask distributed: pip install 'radrt[campaign]'") from e
    try:
        client = Client(scheduler, security=security)
    except ValueError as e:  # a malformed address ("missing port number in address ...")
        raise InvalidArgumentError(f"--scheduler {scheduler!r}: not a Dask scheduler address ({e}); "
                                   f"expected [PROTOCOL://]HOST:PORT", argument="scheduler",
                                   value=scheduler) from e
    with client:
        spec = client.scatter(setup, broadcast=True)
        batches = [faults[i:i + DASK_BATCH] for i in range(0, len(faults), DASK_BATCH)]
        futures = [client.submit(run_batch, spec, batch, pure=False) for batch in batches]
        for future in as_completed(futures):
            yield from future.result()


def run_batch(setup: CampaignSetup, faults: List[Fault]) -> List[InjectionRecord]:
    """Task body on a Dask worker: reproduce the golden state once per worker, then inject."""
    key = setup.golden_sha256 + setup.protect
    if key not in _WORKER_STATE:
        sess = setup.session()
        goldens = golden_runs(setup.model, sess, setup.inputs)
        if [g.sha256 for g in goldens] != setup.golden_sha256s:
            raise RuntimeError(f"worker pid {os.getpid()}: golden output differs from the "
                               f"campaign's; mixed builds or machines in one cluster?")
        _WORKER_STATE.clear()
        _WORKER_STATE[key] = (sess, goldens, static_causes(sess, setup.model_bytes))
    sess, goldens, static = _WORKER_STATE[key]
    try:
        from distributed import get_worker
        name = get_worker().address
    except (ImportError, ValueError):
        name = f"pid {os.getpid()}"
    executor = Executor(sess, setup.inputs, goldens, setup.tolerance, 1, setup.timeout_s, worker_name=name,
                        make_session=setup.session, run_s=setup.run_s, static_cause=static)
    return list(executor.run(faults))


def naive_records(setup: CampaignSetup, goldens: List[Golden], faults: List[Fault]) -> Iterator[InjectionRecord]:
    """The naive baseline (`prefix_reuse=False`): every fault in a fresh session, a full
    run from op 0, in this process (executor.naive_verdict)."""
    from .executor import naive_verdict
    golden_sess = setup.session()
    points = PausePoints(golden_sess.compiled.plan)
    for fault in faults:
        t0 = time.perf_counter()
        verdict = naive_verdict(setup.session, setup.inputs[fault.input_index], fault, goldens[fault.input_index],
                                setup.tolerance, golden_sess)
        yield InjectionRecord(fault, verdict, time.perf_counter() - t0, "naive", points.layer(fault))


def replay(db: str, fault_id: int, inputs: Optional[str] = None):
    """Re-run one recorded fault in this process; return (fault, stored row, new verdict).
    inputs: the --inputs file or folder of a campaign run on one (checked against its digest)."""
    from .executor import run_in_process
    store = CampaignStore.open_existing(db)
    try:
        info = store.info
        row = next((r for r in store.rows() if r["fault_id"] == fault_id), None)
    finally:
        store.close()
    c = info.config
    if not 0 <= fault_id < c["faults"]:
        raise InvalidArgumentError(f"fault id {fault_id}: the campaign in {db} has faults 0..{c['faults'] - 1}")
    if c["inputs"] == "file" and inputs is None:
        raise InvalidArgumentError(f"{db}: the campaign ran on inputs from a file or folder (sha256 "
                                   f"{c['inputs_sha256'][:16]}...); give the same with --inputs",
                                   argument="inputs", value=None)
    if c["inputs"] != "file" and inputs is not None:
        raise InvalidArgumentError(f"--inputs {inputs}: the campaign in {db} ran on the {c['inputs']} inputs, "
                                   f"not a file", argument="inputs", value=inputs)
    setup, sess, goldens, fault_list, config = prepare(
        c["model"], c["sites"], c["fault_model"], c["protect"], c["seed"], faults=c["faults"],
        tolerance=config_tolerance(c), inputs=inputs, input_count=c["input_count"], stratify=c.get("stratify"))
    if config["inputs_sha256"] != c["inputs_sha256"]:
        raise InvalidArgumentError(f"--inputs {inputs}: inputs sha256 {config['inputs_sha256'][:16]}..., the "
                                   f"campaign's {c['inputs_sha256'][:16]}...; give the campaign's inputs",
                                   argument="inputs", value=inputs)
    if setup.golden_sha256 != info.golden_sha256 or config["faults_sha256"] != c["faults_sha256"]:
        raise InvalidArgumentError(f"{db}: this machine's golden run or fault list differs from the campaign's; "
                                   f"replay needs the same model, build and configuration")
    fault = fault_list[fault_id]
    skipped = unchanged_records(sess, setup, goldens, [fault])
    if skipped:
        sess.close()
        return fault, row, skipped[0].verdict
    verdict = next(run_in_process(sess, setup.inputs, goldens, setup.tolerance, [fault], setup.session,
                                  static_causes(sess, setup.model_bytes)))
    sess.close()
    return fault, row, verdict
