"""The store's folder is 0700 and every file it makes 0600: the database, SQLite's -wal and
-shm. A folder or database left looser (by an older agent) is tightened."""

from __future__ import annotations

import logging
import os
import stat

import pytest

from agent.metrics import new_registry
from agent.store.config import StoreConfig
from agent.store.stats import StoreStats
from agent.store.writer import StoreWriter
from tests.store_records import make_record

pytestmark = pytest.mark.unit


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _writer(folder) -> StoreWriter:
    _, instruments = new_registry()
    writer = StoreWriter(
        StoreConfig(dir=folder), StoreStats(instruments), keep_unshipped=False, early=True
    )
    writer.start()
    return writer


def test_the_folder_is_0700_and_every_file_0600(tmp_path):
    folder = tmp_path / "data"
    old = os.umask(0o022)  # the usual umask: files 0644 and folders 0755 unless asked
    try:
        writer = _writer(folder)
        try:
            record = make_record(1)
            writer.put_early(record)  # held in the database: no file of its own
            writer.put([make_record(2)])
            assert writer.flush().result(timeout=20)
            made = sorted(p.name for p in folder.iterdir())
            assert made == [
                "requests.sqlite3",
                "requests.sqlite3-shm",
                "requests.sqlite3-wal",
            ]
            assert _mode(folder) == 0o700
            assert {name: _mode(folder / name) for name in made} == dict.fromkeys(made, 0o600)
        finally:
            writer.close()
    finally:
        os.umask(old)


def test_a_looser_folder_and_database_are_tightened_with_a_warning(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    folder = tmp_path / "data"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    (folder / "requests.sqlite3").touch()
    (folder / "requests.sqlite3").chmod(0o644)
    writer = _writer(folder)
    try:
        assert _mode(folder) == 0o700
        assert _mode(folder / "requests.sqlite3") == 0o600
        assert _mode(folder / "requests.sqlite3-wal") == 0o600
        tightened = [r for r in caplog.records if "tightened" in r.message]
        assert {r.path for r in tightened} == {str(folder), str(folder / "requests.sqlite3")}
    finally:
        writer.close()
