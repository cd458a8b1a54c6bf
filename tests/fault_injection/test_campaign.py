"""Campaigns end to end: outcomes per protection, resume after kill -9, crash and hang
isolation, Dask gives the same per-fault outcomes, bad input refused up front."""
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from fault_injection import executor
from runtime.errors import InvalidArgumentError
from fault_injection.campaign import replay, run_campaign
from fault_injection.store import CampaignMismatchError, CampaignStore

SITES = ["weights", "activations", "compute"]


def outcomes_by_fault(db):
    store = CampaignStore.open_existing(db)
    try:
        return {r["fault_id"]: r["outcome"] for r in store.rows()}
    finally:
        store.close()


@pytest.mark.parametrize("model, faults", [("digits", 400), ("squeezenet", 150)])
def test_none_shows_sdcs_and_tmr_shows_none(tmp_path, model, faults):
    none = run_campaign(model, SITES, "flip", "none", seed=3, db=tmp_path / "none.sqlite",
                        faults=faults, workers=2)
    tmr = run_campaign(model, SITES, "flip", "tmr", seed=3, db=tmp_path / "tmr.sqlite",
                       faults=faults, workers=2)
    assert none["total"] == tmr["total"] == faults
    assert none["outcomes"]["sdc"] + none["outcomes"]["critical_sdc"] > 0
    assert tmr["outcomes"]["sdc"] == tmr["outcomes"]["critical_sdc"] == 0
    assert tmr["outcomes"]["tolerable"] == 0
    assert tmr["outcomes"]["corrected"] > 0
    assert tmr["outcomes"]["crash"] == tmr["outcomes"]["hang"] == 0


def test_digits_campaign_sees_critical_sdcs_unprotected(tmp_path):
    s = run_campaign("digits", ["weights"], "mbu:2", "none", seed=1, db=tmp_path / "c.sqlite",
                     faults=300, workers=2)
    assert s["outcomes"]["critical_sdc"] > 0


def test_prefix_reuse_changes_no_outcome(tmp_path):
    a = run_campaign("digits", SITES + ["input"], "flip", "dwc", seed=9, db=tmp_path / "a.sqlite",
                     faults=120, workers=2)
    b = run_campaign("digits", SITES + ["input"], "flip", "dwc", seed=9, db=tmp_path / "b.sqlite",
                     faults=120, workers=2, prefix_reuse=False)
    assert a["outcomes"] == b["outcomes"]
    assert outcomes_by_fault(tmp_path / "a.sqlite") == outcomes_by_fault(tmp_path / "b.sqlite")


def test_campaign_killed_mid_way_resumes_to_exactly_n_rows(tmp_path):
    db = tmp_path / "kill.sqlite"
    cmd = [sys.executable, "-m", "runtime.cli", "fi", "run", "squeezenet", "--protect", "tmr",
           "--faults", "160", "--seed", "4", "--db", str(db), "--workers", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    recorded = 0
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
        if db.exists():
            try:
                with sqlite3.connect(db) as conn:
                    recorded = conn.execute("SELECT COUNT(*) FROM injection").fetchone()[0]
            except sqlite3.Error:
                recorded = 0
            if recorded >= 32:
                break
    assert proc.poll() is None, f"campaign ended before it could be killed: {proc.stderr.read()}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 0 < recorded < 160
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    with sqlite3.connect(db) as conn:
        ids = [r[0] for r in conn.execute("SELECT fault_id FROM injection ORDER BY fault_id")]
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert ids == list(range(160))
    run_campaign("squeezenet", SITES, "flip", "tmr", seed=4, db=tmp_path / "whole.sqlite",
                 faults=160, workers=2)
    assert outcomes_by_fault(db) == outcomes_by_fault(tmp_path / "whole.sqlite")


def test_a_fault_that_kills_or_stalls_its_worker_is_recorded_and_the_campaign_finishes(tmp_path, monkeypatch):
    real = executor._run_one

    def sabotaged(worker, fault):
        if fault.fault_id == 3:
            os.kill(os.getpid(), signal.SIGSEGV)
        if fault.fault_id == 5:
            time.sleep(3600)
        return real(worker, fault)

    monkeypatch.setattr(executor, "_run_one", sabotaged)
    # Every fault runs (faults 3 and 5 must reach a worker, not be decided from the memory map).
    monkeypatch.setattr("fault_injection.campaign.MemoryMap.static_cause", lambda self, f, reads=True: None)
    s = run_campaign("digits", SITES, "flip", "tmr", seed=2, db=tmp_path / "c.sqlite", faults=12,
                     workers=2, timeout_factor=0.0)
    rows = outcomes_by_fault(tmp_path / "c.sqlite")
    assert s["total"] == 12
    assert rows[3] == "crash" and rows[5] == "hang"
    monkeypatch.setattr(executor, "_run_one", real)
    clean = run_campaign("digits", SITES, "flip", "tmr", seed=2, db=tmp_path / "clean.sqlite", faults=12,
                         workers=1)
    assert clean["total"] == 12
    want = outcomes_by_fault(tmp_path / "clean.sqlite")
    assert {i: o for i, o in rows.items() if i not in (3, 5)} == {i: o for i, o in want.items() if i not in (3, 5)}
    store = CampaignStore.open_existing(tmp_path / "c.sqlite")
    errors = {r["fault_id"]: r["error"] for r in store.rows()}
    store.close()
    assert "SIGSEGV" in errors[3] and "signal 11" in errors[3]
    assert "no result after 2.00 s" in errors[5]


def test_dask_local_cluster_gives_the_same_outcomes_as_local_workers(tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        d = run_campaign("digits", SITES, "flip", "none", seed=6, db=tmp_path / "dask.sqlite",
                         faults=100, scheduler=cluster.scheduler_address)
    local = run_campaign("digits", SITES, "flip", "none", seed=6, db=tmp_path / "local.sqlite",
                         faults=100, workers=2)
    assert d["total"] == local["total"] == 100
    assert outcomes_by_fault(tmp_path / "dask.sqlite") == outcomes_by_fault(tmp_path / "local.sqlite")


def test_replay_reproduces_a_recorded_fault(tmp_path):
    db = tmp_path / "r.sqlite"
    run_campaign("digits", SITES, "flip", "none", seed=8, db=db, faults=40, workers=2)
    rows = outcomes_by_fault(db)
    for fault_id in (0, 7, 39):
        fault, row, verdict = replay(str(db), fault_id)
        assert verdict.outcome == rows[fault_id] == row["outcome"]


@pytest.mark.parametrize("kwargs, message", [
    (dict(sites=["weights", "cache"]), "site kind 'cache'"),
    (dict(fault_model="flop"), "fault model 'flop'"),
    (dict(faults=None, margin=1.5), "margin"),
    (dict(faults=None, margin=0.0), "margin"),
    (dict(protect="quad"), "protection 'quad'"),
])
def test_bad_input_is_refused_before_anything_runs(tmp_path, kwargs, message):
    args = dict(model="digits", sites=SITES, fault_model="flip", protect="none", seed=1,
                db=tmp_path / "bad.sqlite", faults=10)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        run_campaign(**args)
    assert not (tmp_path / "bad.sqlite").exists()


def test_a_database_of_another_campaign_is_refused_and_untouched(tmp_path):
    db = tmp_path / "c.sqlite"
    run_campaign("digits", SITES, "flip", "none", seed=1, db=db, faults=20)
    before = outcomes_by_fault(db)
    with pytest.raises(CampaignMismatchError):
        run_campaign("squeezenet", SITES, "flip", "none", seed=1, db=db, faults=20)
    with pytest.raises(CampaignMismatchError):
        run_campaign("digits", SITES, "flip", "tmr", seed=1, db=db, faults=20)
    assert outcomes_by_fault(db) == before


def test_cli_json_summary(tmp_path):
    out = subprocess.run([sys.executable, "-m", "runtime.cli", "fi", "run", "digits", "--faults", "30",
                          "--seed", "1", "--db", str(tmp_path / "j.sqlite"), "--json"],
                         check=True, capture_output=True, text=True).stdout
    import json
    summary = json.loads(out)
    assert summary["total"] == 30 and sum(summary["outcomes"].values()) == 30
    assert summary["injections_per_s"] > 0


@pytest.mark.parametrize("address", ["notaurl", "tcp://10.0.0.5", "tcp://h:0", "udp://h:1", "inproc://", ""])
def test_a_malformed_scheduler_address_is_refused_before_anything_runs(tmp_path, address):
    from runtime.errors import InvalidArgumentError
    with pytest.raises(InvalidArgumentError) as info:
        run_campaign("digits", SITES, "flip", "none", seed=0, db=tmp_path / "c.db", faults=5, scheduler=address)
    assert info.value.argument == "scheduler" and repr(address) in str(info.value)
    assert not (tmp_path / "c.db").exists()


@pytest.mark.parametrize("address", ["tcp://10.0.0.5:8786", "10.0.0.5:8786", "tls://[::1]:8786", "inproc://x"])
def test_well_formed_scheduler_addresses_pass_the_check(address):
    from fault_injection.campaign import check_scheduler_address
    assert check_scheduler_address(address) == address


def test_a_database_that_cannot_be_opened_is_an_invalid_argument(tmp_path):
    from runtime.errors import InvalidArgumentError
    with pytest.raises(InvalidArgumentError, match=f"campaign database '{tmp_path}': cannot open it"):
        run_campaign("digits", SITES, "flip", "none", seed=0, db=tmp_path, faults=5)


def make_tls_files(folder):
    """A CA and one certificate for 127.0.0.1/localhost signed by it (openssl), as PEM files."""
    import subprocess
    folder.mkdir(exist_ok=True)
    run = lambda *a: subprocess.run(["openssl", *a], cwd=folder, check=True, capture_output=True)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=radrt test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "node.key", "-out", "node.csr", "-subj", "/CN=localhost")
    (folder / "ext.cnf").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
    run("x509", "-req", "-in", "node.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out",
        "node.pem", "-days", "2", "-extfile", "ext.cnf")
    return folder / "ca.pem", folder / "node.pem", folder / "node.key"


def test_dask_over_tls_gives_the_same_outcomes(tmp_path):
    """Issue 13 item 8: a campaign on a Dask scheduler secured with mutual TLS
    (`radrt fi run --scheduler tls://... --tls-ca --tls-cert --tls-key`), through the CLI,
    records the same outcomes as local workers; the same scheduler refuses a plain client."""
    import json
    import shutil
    import subprocess
    import sys
    distributed = pytest.importorskip("distributed")
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make the test certificates")
    from distributed.security import Security
    ca, cert, key = make_tls_files(tmp_path / "tls")
    cluster_security = Security(tls_ca_file=str(ca), tls_scheduler_cert=str(cert), tls_scheduler_key=str(key),
                                tls_worker_cert=str(cert), tls_worker_key=str(key), tls_client_cert=str(cert),
                                tls_client_key=str(key), require_encryption=True)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                                  security=cluster_security, protocol="tls://", host="127.0.0.1") as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tls://")
        done = subprocess.run([sys.executable, "-m", "runtime.cli", "fi", "run", "digits", "--sites",
                               ",".join(SITES), "--faults", "30", "--seed", "6", "--db", str(tmp_path / "tls.sqlite"),
                               "--scheduler", address, "--tls-ca", str(ca), "--tls-cert", str(cert),
                               "--tls-key", str(key), "--json"], capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout.strip().splitlines()[-1])["total"] == 30
        with pytest.raises(InvalidArgumentError, match="needs --tls-ca, --tls-cert and --tls-key"):
            run_campaign("digits", SITES, "flip", "none", seed=6, db=tmp_path / "plain.sqlite", faults=5,
                         scheduler=address)
    run_campaign("digits", SITES, "flip", "none", seed=6, db=tmp_path / "local.sqlite", faults=30, workers=1)
    assert outcomes_by_fault(tmp_path / "tls.sqlite") == outcomes_by_fault(tmp_path / "local.sqlite")


@pytest.mark.parametrize("args, message", [
    (["--scheduler", "tcp://127.0.0.1:8786", "--tls-ca", "CA", "--tls-cert", "CERT", "--tls-key", "KEY"],
     "is not tls://"),
    (["--scheduler", "tls://127.0.0.1:8786", "--tls-ca", "CA"], "--tls-ca given without --tls-cert, --tls-key"),
    (["--tls-ca", "CA", "--tls-cert", "CERT", "--tls-key", "KEY"], "give --scheduler tls://HOST:PORT too"),
    (["--scheduler", "tls://127.0.0.1:8786", "--tls-ca", "MISSING", "--tls-cert", "CERT", "--tls-key", "KEY"],
     "--tls-ca MISSING: cannot be read"),
    (["--scheduler", "tls://127.0.0.1:8786", "--tls-ca", "NOTPEM", "--tls-cert", "CERT", "--tls-key", "KEY"],
     "--tls-ca NOTPEM: not a PEM file"),
])
def test_tls_options_are_checked_before_anything_runs(tmp_path, args, message):
    """Issue 13 item 8: wrong TLS option sets are one-line errors naming the option/file."""
    import subprocess
    import sys
    for name in ("CA", "CERT", "KEY"):
        (tmp_path / name).write_text("-----BEGIN CERTIFICATE-----\n")
    (tmp_path / "NOTPEM").write_text("hello\n")
    done = subprocess.run([sys.executable, "-m", "runtime.cli", "fi", "run", "digits", "--faults", "5",
                           "--db", str(tmp_path / "c.sqlite"), *args], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (tmp_path / "c.sqlite").exists()
