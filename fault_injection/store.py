"""One SQLite database per campaign (WAL mode): its configuration and every injection.

    store = CampaignStore.open("c.db", config=cfg, model_sha256=m, golden_sha256=g, seed=s)
    todo = store.pending(range(len(faults)))          # resume: what is not recorded yet
    store.record_stream(results)                      # InjectionRecord stream, batched
    store.outcome_counts(); store.counts_by("layer")

Tables:
- `campaign`: exactly one row: configuration (canonical JSON), model SHA-256, golden
  output SHA-256, code version (radrt version + `git describe` when run from a
  checkout), seed, creation time (UTC, ISO 8601).
- `injection`: one row per injected fault, keyed by its `fault_id` (its index in the
  campaign's deterministic fault list, fault_injection.plan). The PRIMARY KEY makes
  recording a fault twice impossible (IntegrityError, the batch rolls back). `layer`
  is the op the upset first reached (fault_injection.executor.PausePoints.layer;
  NULL: never read), `cause` why a masked upset had no effect, when known.
  `input_index` is the campaign input the faulty run inferred; `value` a `random`
  fault's new word; `golden_class`/`faulty_class` the top-1 classes (criterion
  top1), `iou` the mean IoU of the masks (criterion iou; fault_injection.outcome);
  `upsets` an accumulate fault's flips (JSON, fault_injection.plan).
- `layer`: the compiled plan's ops, `op_index` -> node name and op type, so reports
  name layers without loading the model.
- `input`: one row per campaign input: `input_index`, `feeds_sha256` (digest of the
  feeds, fault_injection.inputs), `golden_sha256` of its golden outputs,
  `golden_class` (its top-1 class when the model is a classifier, else NULL).
- `meta`: named JSON documents a campaign adds beside its rows (`put_meta`,
  `get_meta`), e.g. the exposure data of fault_injection.estimate; created when
  first written, so older databases read as having none.

Schema 3 (this one) added the input table and the columns input_index, value,
golden_class, faulty_class, iou, upsets; databases of schema 1 and 2 (radrt before
multi-input campaigns) are refused with the version that wrote them: re-run the
campaign.

A file that is not SQLite, truncated or damaged is CampaignDatabaseError naming the
file, and so is a row that does not fit the vocabulary (an outcome edited to an unknown
string) or, on resume, the campaign's fault list (`check_rows`).

Resume: each batch is one transaction, so a writer killed at any moment leaves the
batches it committed and nothing of the one in flight; `pending()` then names exactly
the faults still to run. WAL with synchronous=NORMAL keeps committed batches across
a killed process (an OS crash may lose the last ones, never consistency).

Reopening an existing database with a different model, configuration, seed or golden
output raises CampaignMismatchError naming what differs (each configuration key, with
both values) before anything is written.
"""
import datetime
import json
import sqlite3
import subprocess
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

from runtime.errors import InvalidArgumentError

from .outcome import Verdict
from .plan import Fault
from .vocabulary import OUTCOMES

SCHEMA_VERSION = 3

_SCHEMA = f"""
CREATE TABLE campaign (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    schema        INTEGER NOT NULL,
    config_json   TEXT NOT NULL,
    model_sha256  TEXT NOT NULL,
    golden_sha256 TEXT NOT NULL,
    code_version  TEXT NOT NULL,
    seed          INTEGER NOT NULL,
    created       TEXT NOT NULL
);
CREATE TABLE injection (
    fault_id      INTEGER PRIMARY KEY,
    site          TEXT NOT NULL,
    kind          TEXT NOT NULL,
    op_index      INTEGER,
    replica       INTEGER,
    at_op         INTEGER,
    byte_offset   INTEGER NOT NULL,
    bit           INTEGER NOT NULL CHECK (bit BETWEEN 0 AND 7),
    fault_model   TEXT NOT NULL,
    outcome       TEXT NOT NULL CHECK (outcome IN ({", ".join(repr(o) for o in OUTCOMES)})),
    max_abs_error REAL,
    top1_changed  INTEGER,
    duration_s    REAL,
    worker        TEXT,
    error         TEXT,
    layer         INTEGER,
    cause         TEXT,
    input_index   INTEGER NOT NULL DEFAULT 0,
    value         INTEGER,
    golden_class  INTEGER,
    faulty_class  INTEGER,
    iou           REAL,
    upsets        TEXT
);
CREATE TABLE layer (
    op_index      INTEGER PRIMARY KEY,
    name          TEXT NOT NULL,
    op_type       TEXT NOT NULL
);
CREATE TABLE input (
    input_index   INTEGER PRIMARY KEY,
    feeds_sha256  TEXT NOT NULL,
    golden_sha256 TEXT NOT NULL,
    golden_class  INTEGER
);
"""

_COLUMNS = ("fault_id", "site", "kind", "op_index", "replica", "at_op", "byte_offset", "bit",
            "fault_model", "outcome", "max_abs_error", "top1_changed", "duration_s", "worker", "error",
            "layer", "cause", "input_index", "value", "golden_class", "faulty_class", "iou", "upsets")
# The columns that restate the fault (fault_injection.plan.Fault) of a row.
_FAULT_COLUMNS = {"site": "site", "kind": "kind", "op_index": "op_index", "replica": "replica",
                  "at_op": "at_op", "byte_offset": "byte_offset", "bit": "bit", "fault_model": "model",
                  "input_index": "input_index", "value": "value", "upsets": "upsets"}

# Group expressions of the summaries. layer: the op the upset first reached (NULL:
# never read). bit: the bit's position
# in a little-endian word of `word_bytes` bytes (float32: 0-22 mantissa, 23-30
# exponent, 31 sign), assuming sites start word-aligned.
_GROUPS = {
    "kind": "kind",
    "site": "site",
    "layer": "layer",
    "bit": "(byte_offset % :word_bytes) * 8 + bit",
    "fault_model": "fault_model",
    "input": "input_index",
}


class CampaignMismatchError(InvalidArgumentError):
    """The database belongs to another campaign (model, configuration, seed or golden run).

    A RadrtError (CLI exit code 2) and a ValueError."""


class CampaignDatabaseError(InvalidArgumentError):
    """The database file cannot be used: not SQLite, truncated or damaged, or a row
    that is not a valid record of its campaign. A RadrtError (exit code 2)."""


@dataclass(frozen=True)
class InjectionRecord:
    """One injection's result: the fault, its verdict, and how the run went."""
    fault: Fault
    verdict: Verdict
    duration_s: Optional[float] = None
    worker: Optional[str] = None
    layer: Optional[int] = None

    def row(self) -> tuple:
        f, v = self.fault, self.verdict
        if v.outcome not in OUTCOMES:
            raise InvalidArgumentError(f"fault {f.fault_id}: outcome '{v.outcome}' is not one of {list(OUTCOMES)}")
        top1 = None if v.top1_changed is None else int(v.top1_changed)
        return (f.fault_id, f.site, f.kind, f.op_index, f.replica, f.at_op, f.byte_offset, f.bit,
                f.model, v.outcome, v.max_abs_error, top1, self.duration_s, self.worker, v.error,
                self.layer, v.cause, f.input_index, f.value, v.golden_class, v.faulty_class, v.iou,
                f.upsets)


@dataclass(frozen=True)
class CampaignInfo:
    config: dict
    model_sha256: str
    golden_sha256: str
    code_version: str
    seed: int
    created: str


def canonical_json(config: dict) -> str:
    return json.dumps(config, sort_keys=True, separators=(",", ":"))


def code_version() -> str:
    """radrt's version, plus `git describe --always --dirty` when run from a checkout."""
    try:
        from importlib.metadata import version
        text = f"radrt {version('radrt')}"
    except Exception:
        text = "radrt (not installed)"
    repo = Path(__file__).resolve().parents[1]
    if (repo / ".git").exists():
        try:
            out = subprocess.run(["git", "-C", str(repo), "describe", "--always", "--dirty", "--tags"],
                                 capture_output=True, text=True, timeout=10)
            if out.returncode == 0 and out.stdout.strip():
                text += f" (git {out.stdout.strip()})"
        except (OSError, subprocess.SubprocessError):
            pass
    return text


_SQLITE_MAGIC = b"SQLite format 3\x00"
EXPECTED_DATABASE = "expected a radrt campaign database (SQLite, written by radrt fi run)"


def _damaged(path: Path, e: sqlite3.DatabaseError) -> CampaignDatabaseError:
    return CampaignDatabaseError(f"campaign database '{path}' is truncated or damaged ({e}); {EXPECTED_DATABASE}, "
                                 f"or give a new file to start a campaign", argument="db", value=str(path))


def _connect(path: Path) -> sqlite3.Connection:
    """Open (or create) the database; one that cannot be opened (missing folder, a
    directory, no permission, not SQLite, damaged) is an InvalidArgumentError naming the
    path. The header is checked before SQLite opens the file: SQLite would switch a
    foreign file to WAL before noticing."""
    if path.is_file() and path.stat().st_size:
        with open(path, "rb") as f:
            head = f.read(len(_SQLITE_MAGIC))
        if head != _SQLITE_MAGIC:
            raise CampaignDatabaseError(f"'{path}' is not an SQLite database (its first bytes are {head[:16]!r}); "
                                        f"{EXPECTED_DATABASE}", argument="db", value=str(path))
    conn = None
    try:
        conn = sqlite3.connect(str(path), timeout=30.0, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        # A failed CHECK is an edited row, named by the row checks; anything else is damage.
        damage = [r[0] for r in conn.execute("PRAGMA quick_check")
                  if r[0] != "ok" and not r[0].startswith("CHECK constraint failed")]
    except sqlite3.DatabaseError as e:  # OperationalError ("unable to open"), "not a database"
        if conn is not None:
            conn.close()
        if path.is_file() and path.stat().st_size:
            raise _damaged(path, e) from e
        raise InvalidArgumentError(f"campaign database '{path}': cannot open it ({e})",
                                   argument="db", value=str(path)) from e
    if damage:
        conn.close()
        raise _damaged(path, sqlite3.DatabaseError(f"integrity check: {'; '.join(damage[:3])}"))
    return conn


def _tables(conn: sqlite3.Connection) -> set:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def config_differences(stored: dict, given: dict) -> List[str]:
    """'key: stored value, not given value' for every top-level key that differs."""
    def text(config: dict, key: str) -> str:
        return json.dumps(config[key], sort_keys=True) if key in config else "absent"

    return [f"{key}: {text(stored, key)} recorded, {text(given, key)} now"
            for key in sorted(set(stored) | set(given)) if text(stored, key) != text(given, key)]


class CampaignStore:
    def __init__(self, conn: sqlite3.Connection, path: Path):
        self._conn = conn
        self.path = path
        try:
            self.info = self._read_info()
            self._check_outcomes()
        except sqlite3.DatabaseError as e:
            raise _damaged(path, e) from e

    # -- opening --------------------------------------------------------------------------
    @classmethod
    def open(cls, path: Union[str, Path], *, config: dict, model_sha256: str, golden_sha256: str,
             seed: int, version: Optional[str] = None,
             layers: Sequence[Tuple[int, str, str]] = (),
             inputs: Sequence[Tuple[int, str, str, Optional[int]]] = ()) -> "CampaignStore":
        """Create the campaign database, or reopen it to resume when it holds the same
        campaign (same model, configuration, seed and golden output). layers: the
        plan's (op index, node name, op type); inputs: (input index, feeds sha256,
        golden sha256, golden class or None); both written when the database is created."""
        path = Path(path)
        config_json = canonical_json(config)
        conn = _connect(path)
        try:
            conn.execute("BEGIN IMMEDIATE")
            tables = _tables(conn)
            if not tables:
                # Statement by statement: executescript would commit the open transaction.
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                created = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
                conn.execute("INSERT INTO campaign VALUES (1, ?, ?, ?, ?, ?, ?, ?)",
                             (SCHEMA_VERSION, config_json, model_sha256, golden_sha256,
                              version if version is not None else code_version(), seed, created))
                conn.executemany("INSERT INTO layer VALUES (?, ?, ?)", list(layers))
                conn.executemany("INSERT INTO input VALUES (?, ?, ?, ?)", list(inputs))
                conn.execute("COMMIT")
            else:
                conn.execute("ROLLBACK")
                store = cls(conn, path)
                store._check_same(config, model_sha256, golden_sha256, seed)
                return store
        except sqlite3.DatabaseError as e:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            conn.close()
            raise _damaged(path, e) from e
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            conn.close()
            raise
        return cls(conn, path)

    @classmethod
    def open_existing(cls, path: Union[str, Path]) -> "CampaignStore":
        """Open a campaign database for reading its results (e.g. a report, a replay)."""
        path = Path(path)
        if not path.exists():
            raise CampaignDatabaseError(f"campaign database '{path}' does not exist", argument="db",
                                        value=str(path))
        if not path.is_file():
            raise CampaignDatabaseError(f"'{path}' is not a file; {EXPECTED_DATABASE}", argument="db", value=str(path))
        if not path.stat().st_size:
            # SQLite would silently make an empty file an empty database.
            raise CampaignDatabaseError(f"'{path}' is empty (0 bytes); {EXPECTED_DATABASE}", argument="db",
                                        value=str(path))
        conn = _connect(path)
        try:
            return cls(conn, path)
        except BaseException:
            conn.close()
            raise

    def _read_info(self) -> CampaignInfo:
        if not {"campaign", "injection"} <= _tables(self._conn):
            raise CampaignMismatchError(f"'{self.path}' is not a radrt campaign database "
                                        f"(no campaign and injection tables)")
        row = self._conn.execute("SELECT schema, config_json, model_sha256, golden_sha256, code_version, "
                                 "seed, created FROM campaign WHERE id = 1").fetchone()
        if row is None:
            raise CampaignMismatchError(f"'{self.path}': the campaign table is empty")
        if row[0] != SCHEMA_VERSION:
            older = (" (before multi-input campaigns and the input table); re-run the campaign with this radrt"
                     if isinstance(row[0], int) and row[0] < SCHEMA_VERSION else "; use the radrt that wrote it")
            raise CampaignMismatchError(f"'{self.path}': schema version {row[0]}, written by {row[4]}, this radrt "
                                        f"reads schema {SCHEMA_VERSION}{older}", argument="db", value=str(self.path))
        try:
            config = json.loads(row[1])
        except ValueError as e:
            raise CampaignDatabaseError(f"'{self.path}': the campaign configuration is not valid JSON ({e})") from e
        return CampaignInfo(config, row[2], row[3], row[4], row[5], row[6])

    def _check_outcomes(self) -> None:
        """Every recorded outcome is one of the vocabulary (a CHECK constraint that an
        edit with ignore_check_constraints or a rewritten schema gets past)."""
        known = ", ".join("?" * len(OUTCOMES))
        row = self._conn.execute(f"SELECT fault_id, outcome FROM injection WHERE outcome NOT IN ({known}) "
                                 f"ORDER BY fault_id LIMIT 1", list(OUTCOMES)).fetchone()
        if row is not None:
            raise CampaignDatabaseError(f"'{self.path}': injection row fault_id {row[0]} has outcome {row[1]!r}, "
                                        f"not one of {', '.join(OUTCOMES)}; the database was edited or damaged",
                                        argument="db", value=str(self.path))

    def check_rows(self, faults: Sequence[Fault]) -> None:
        """Every recorded row is a fault of this campaign's list, field for field
        (resume refuses a database whose rows were edited); else CampaignDatabaseError
        naming the first row that does not match."""
        for row in self.rows():
            i = row["fault_id"]
            if not isinstance(i, int) or not 0 <= i < len(faults):
                raise CampaignDatabaseError(f"'{self.path}': injection row fault_id {i!r} is not in the campaign's "
                                            f"fault list (0..{len(faults) - 1})", argument="db", value=str(self.path))
            fault = faults[i]
            for column, field in _FAULT_COLUMNS.items():
                if row[column] != getattr(fault, field):
                    raise CampaignDatabaseError(
                        f"'{self.path}': injection row fault_id {i} has {column} {row[column]!r}, the campaign's "
                        f"fault {i} has {getattr(fault, field)!r}; the database was edited or belongs to "
                        f"another fault list", argument="db", value=str(self.path))

    def _check_same(self, config: dict, model_sha256: str, golden_sha256: str, seed: int) -> None:
        info = self.info
        if info.model_sha256 != model_sha256:
            raise CampaignMismatchError(f"'{self.path}' holds a campaign on model sha256 {info.model_sha256[:16]}..., "
                                        f"not {model_sha256[:16]}...; use a new database for another model")
        differences = config_differences(info.config, config)
        if differences:
            raise CampaignMismatchError(f"'{self.path}' holds another campaign configuration: "
                                        f"{'; '.join(differences)}; use a new database or the recorded options")
        if info.seed != seed:
            raise CampaignMismatchError(f"'{self.path}' holds a campaign with seed {info.seed}, not {seed}")
        if info.golden_sha256 != golden_sha256:
            raise CampaignMismatchError(f"'{self.path}': the golden output changed (sha256 {info.golden_sha256[:16]}... "
                                        f"recorded, {golden_sha256[:16]}... now); results would not compare")

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "CampaignStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- writing ------------------------------------------------------------------------
    def record(self, records: Iterable[InjectionRecord]) -> int:
        """Insert records in one transaction: all of them or, on any error (a fault
        already recorded, a bad outcome), none."""
        rows = [r.row() for r in records]
        if not rows:
            return 0
        placeholders = ", ".join("?" * len(_COLUMNS))
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            self._conn.executemany(f"INSERT INTO injection ({', '.join(_COLUMNS)}) VALUES ({placeholders})", rows)
        except sqlite3.IntegrityError as e:
            self._conn.execute("ROLLBACK")
            ids = [r[0] for r in rows]
            done = self._recorded(ids)
            if done:
                raise InvalidArgumentError(f"'{self.path}': fault {done[0]} is already recorded; nothing of this batch "
                                           f"({len(rows)} records) was written") from e
            raise
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")
        return len(rows)

    def record_stream(self, records: Iterable[InjectionRecord], batch: int = 256) -> int:
        """Record a stream of results in transactions of `batch` records; returns how many."""
        if batch < 1:
            raise InvalidArgumentError(f"batch must be >= 1, got {batch}")
        it = iter(records)
        total = 0
        while True:
            chunk = list(islice(it, batch))
            if not chunk:
                return total
            total += self.record(chunk)

    # -- reading ------------------------------------------------------------------------
    def _recorded(self, fault_ids: List[int]) -> List[int]:
        found = []
        for start in range(0, len(fault_ids), 500):
            part = fault_ids[start:start + 500]
            q = f"SELECT fault_id FROM injection WHERE fault_id IN ({', '.join('?' * len(part))})"
            found.extend(r[0] for r in self._conn.execute(q, part))
        return sorted(found)

    def pending(self, fault_ids: Iterable[int]) -> List[int]:
        """The ids among `fault_ids` not recorded yet, in the order given."""
        done = {r[0] for r in self._conn.execute("SELECT fault_id FROM injection")}
        return [i for i in fault_ids if i not in done]

    def count(self) -> int:
        return self._conn.execute("SELECT COUNT(*) FROM injection").fetchone()[0]

    def rows(self) -> Iterator[dict]:
        """Every injection as a dict of the table's columns, by fault id."""
        cur = self._conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM injection ORDER BY fault_id")
        for row in cur:
            row = dict(zip(_COLUMNS, row))
            if row["outcome"] not in OUTCOMES:
                raise CampaignDatabaseError(f"'{self.path}': injection row fault_id {row['fault_id']} has outcome "
                                            f"{row['outcome']!r}, not one of {', '.join(OUTCOMES)}")
            yield row

    def inputs(self) -> List[dict]:
        """The campaign's inputs, by index: {input_index, feeds_sha256, golden_sha256, golden_class}."""
        cols = ("input_index", "feeds_sha256", "golden_sha256", "golden_class")
        return [dict(zip(cols, r)) for r in
                self._conn.execute(f"SELECT {', '.join(cols)} FROM input ORDER BY input_index")]

    def layers(self) -> Dict[int, Tuple[str, str]]:
        """{op index: (node name, op type)} of the campaign's plan."""
        return {i: (name, op_type) for i, name, op_type in
                self._conn.execute("SELECT op_index, name, op_type FROM layer ORDER BY op_index")}

    def outcome_counts(self) -> Dict[str, int]:
        """Injections per outcome (every outcome of the vocabulary, 0 when none)."""
        counts = {o: 0 for o in OUTCOMES}
        for outcome, n in self._conn.execute("SELECT outcome, COUNT(*) FROM injection GROUP BY outcome"):
            counts[outcome] = n
        return counts

    def counts_by(self, group: str, word_bytes: int = 4) -> Dict[object, Dict[str, int]]:
        """{group value: {outcome: count}} for group in kind, site, layer, bit,
        fault_model (see _GROUPS); feed it to fault_injection.stats.breakdown."""
        if group not in _GROUPS:
            raise InvalidArgumentError(f"group '{group}' is not one of {list(_GROUPS)}")
        if isinstance(word_bytes, bool) or not isinstance(word_bytes, int) or word_bytes < 1:
            raise InvalidArgumentError(f"word_bytes must be an integer >= 1, got {word_bytes!r}")
        q = (f"SELECT {_GROUPS[group]} AS g, outcome, COUNT(*) FROM injection "
             f"GROUP BY g, outcome ORDER BY g, outcome")
        result: Dict[object, Dict[str, int]] = {}
        for g, outcome, n in self._conn.execute(q, {"word_bytes": word_bytes}):
            result.setdefault(g, {})[outcome] = n
        return result

    def put_meta(self, key: str, value) -> None:
        """Store the JSON-serialisable `value` under `key` (replacing an earlier one)."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            self._conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value_json TEXT NOT NULL)")
            self._conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, canonical_json(value)))
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def get_meta(self, key: str):
        """The value stored under `key`, or None when there is none; CampaignDatabaseError
        when it is not valid JSON."""
        if "meta" not in _tables(self._conn):
            return None
        row = self._conn.execute("SELECT value_json FROM meta WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        try:
            return json.loads(row[0])
        except ValueError as e:
            raise CampaignDatabaseError(f"'{self.path}': meta '{key}' is not valid JSON ({e})", argument="db",
                                        value=str(self.path)) from e

    def integrity_ok(self) -> bool:
        return self._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
