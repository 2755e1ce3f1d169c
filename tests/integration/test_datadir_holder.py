"""The data folder's lock held by another process: starts a Python child that holds it,
and checks that the holder is named and that its exit frees the folder."""

from __future__ import annotations

import subprocess
import sys

import pytest

from agent.datadir import DataDirBusy, lock_data_dir

pytestmark = pytest.mark.integration

HOLD = """
import sys, time
from agent.datadir import lock_data_dir
lock = lock_data_dir(sys.argv[1])
print("held", flush=True)
sys.stdin.read()  # until the test closes our stdin
"""


def test_the_holders_pid_is_named_and_its_exit_frees_the_folder(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(DataDirBusy) as busy:
            lock_data_dir(tmp_path)
        assert busy.value.pid == holder.pid and f"pid {holder.pid}" in str(busy.value)
        assert "--data-dir" in str(busy.value)
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    lock_data_dir(tmp_path).release()  # the kernel let go when the holder exited
