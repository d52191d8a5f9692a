"""The Dagster instance of `python -m dagster_project.run` (make run): the project's instance ($DAGSTER_HOME, by
default `<repo>/.dagster_home`, the one `make dev` shows), with an event log storage that writes its SQLite files
without reopening them for every event.

Dagster's SQLite event log opens a new engine and connection for each event and closes it after one commit; in WAL
mode each close checkpoints the database (an fsync), and each commit syncs the log. A run of this project stores
some 500 to 800 events (a materialization and a check result per dbt model and test, the steps, the logs), and at
1M requests that bookkeeping cost more CPU than landing a day. `KeptOpenSqliteEventLogStorage` keeps one connection
per database file it writes (the run's file and the index; at most KEEP_OPEN) and commits with SQLite's
`synchronous=NORMAL`, the setting SQLite documents for WAL mode: a commit is safe when the process dies (it is in the
log), and a power cut may lose the last commits but never corrupts the file. The files, their schema and their
contents are those of Dagster's own storage, so `make dev` reads them as usual; it sees the run's step events when
the run ends (its watcher looks at the database file, which the checkpoint at the end writes), the run's status at
once (run storage is unchanged).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import sqlalchemy as db
from dagster._config import StringSource
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS

KEEP_OPEN = 4  # database files kept open at once (the run's, the index, and a few read by the same process)


class KeptOpenSqliteEventLogStorage(SqliteEventLogStorage):
    """Dagster's SQLite event log storage, with a connection kept open per database file (see the module)."""

    def __init__(self, base_dir: str, inst_data=None):
        self._engines: OrderedDict[str, db.engine.Engine] = OrderedDict()  # before super(): it connects
        super().__init__(base_dir, inst_data)

    @classmethod
    def config_type(cls):
        return {"base_dir": StringSource}

    @classmethod
    def from_config_value(cls, inst_data, config_value):  # noqa: D102 - Dagster's ConfigurableClass
        return cls(inst_data=inst_data, **config_value)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[db.engine.Connection]:
        with self._db_lock:  # one thread at a time uses a connection (hence check_same_thread off)
            engine = self._engines.pop(shard, None)
            if engine is None:
                engine = db.create_engine(
                    self.conn_string_for_shard(shard),
                    connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
                    pool_size=1,
                )
                db.event.listen(engine, "connect", _synchronous_normal)
                if shard not in self._initialized_dbs:
                    self._initdb(engine)
                    self._initialized_dbs.add(shard)
            self._engines[shard] = engine
            while len(self._engines) > KEEP_OPEN:
                self._engines.popitem(last=False)[1].dispose()
            with engine.connect() as conn, conn.begin():
                yield conn

    def dispose(self) -> None:
        with self._db_lock:
            while self._engines:
                self._engines.popitem()[1].dispose()  # closing the last connection checkpoints the file
        super().dispose()


def _synchronous_normal(dbapi_connection, _record) -> None:
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")


def project_instance(home: Path | str | None = None) -> dg.DagsterInstance:
    """The instance of `home` (default $DAGSTER_HOME) with its dagster.yaml, its event log kept open (see the
    module). Use it as a context manager."""
    home = Path(home or os.environ["DAGSTER_HOME"])
    ref = InstanceRef.from_dir(
        str(home),
        overrides={"event_log_storage": {
            "module": __name__,
            "class": KeptOpenSqliteEventLogStorage.__name__,
            "config": {"base_dir": str(home / "history" / "runs")},
        }},
    )
    return dg.DagsterInstance.from_ref(ref)


CHECKS_WARNED_TAG = "checks/warned"  # how many checks of severity WARN did not pass in the run
CHECKS_FAILED_TAG = "checks/failed"  # how many checks of severity ERROR did not pass


def tag_check_outcomes(instance: dg.DagsterInstance, run_id: str) -> dict[str, str]:
    """Tag a run with the counts of its checks that did not pass (only counts above zero), so that the runs list
    shows `checks/warned: N` beside a run that otherwise says Success. Returns the tags added."""
    from dagster._core.events import DagsterEventType

    records = instance.get_records_for_run(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION).records
    warned = failed = 0
    for record in records:
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        if not evaluation.passed:
            if evaluation.severity == dg.AssetCheckSeverity.WARN:
                warned += 1
            else:
                failed += 1
    tags = {tag: str(count) for tag, count in ((CHECKS_WARNED_TAG, warned), (CHECKS_FAILED_TAG, failed)) if count}
    if tags:
        instance.add_run_tags(run_id, tags)
    return tags
