"""The data folder's lock: one agent per folder, the holder named, released at exit."""

from __future__ import annotations

import pytest

from agent.datadir import DataDirBusy, lock_data_dir

pytestmark = pytest.mark.unit


def test_a_second_lock_on_the_folder_is_refused_until_the_first_is_released(tmp_path):
    folder = tmp_path / "data"
    first = lock_data_dir(folder)  # creates the folder
    assert (folder / ".lock").stat().st_mode & 0o777 == 0o600
    with pytest.raises(DataDirBusy):
        lock_data_dir(folder)
    first.release()
    lock_data_dir(folder).release()
