"""The setup script never touches the system Python (it makes its own venv, or says what
to install): runs the copied scripts/setup-cpu.sh with bash, beside stand-ins for Debian's
python3 without python3-venv and for apt-get (small shell scripts), so that nothing is
installed on the machine running them."""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _stand_ins(root: Path, apt_succeeds: bool) -> dict[str, str]:
    """A copy of the setup scripts under root, a python3 3.11 that cannot import ensurepip
    (Debian without python3.11-venv) and an apt-get that only logs its arguments; returns
    the environment to run the copied setup-cpu.sh in."""
    (root / "scripts").mkdir()
    for name in ("setup-cpu.sh", "lib.sh"):
        (root / "scripts" / name).write_text((ROOT / "scripts" / name).read_text())
    bin_dir = root / "bin"
    bin_dir.mkdir()
    python = bin_dir / "python3"
    python.write_text(
        "#!/bin/bash\n"
        'case "$2" in\n'
        "  *ensurepip*) echo \"No module named 'ensurepip'\" >&2; exit 1 ;;\n"
        "  *print*) echo 3.11 ;;\n"  # the version, as the script asks for it
        "esac\n"
    )
    apt = bin_dir / "apt-get"
    fail = "" if apt_succeeds else '[ "$1" = install ] && exit 100\n'
    apt.write_text(f'#!/bin/bash\necho "$*" >> {root}/apt.log\n{fail}exit 0\n')
    (bin_dir / "dirname").symlink_to(shutil.which("dirname"))
    for f in (python, apt):
        f.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INFERWATCH_", "PYTHON"))}
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    env["INFERWATCH_VENV"] = str(root / "venv")
    return env


def _setup(root: Path, env: dict[str, str], *prefix: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*prefix, "/bin/bash", str(root / "scripts" / "setup-cpu.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="the apt-get branch runs as root")
def test_setup_installs_the_venv_package_with_apt_stand_ins(tmp_path):
    env = _stand_ins(tmp_path, apt_succeeds=False)
    result = _setup(tmp_path, env)
    assert result.returncode == 1, result.stderr
    assert (tmp_path / "apt.log").read_text().splitlines() == [
        "update -qq",
        "install -y -qq python3.11-venv",
    ]
    assert "apt-get update && apt-get install -y python3.11-venv" in result.stderr
    assert not (tmp_path / "venv").exists()  # no half-made environment left behind


def test_setup_without_root_says_what_to_run_stand_ins(tmp_path):
    prefix: tuple[str, ...] = ()
    root = tmp_path
    if os.geteuid() == 0:
        # Drop to nobody, in a folder nobody can read (pytest's tmp_path is root's alone).
        if not Path("/usr/bin/setpriv").exists():
            pytest.skip("needs setpriv to drop root")
        root = Path(tempfile.mkdtemp(prefix="inferwatch-setup-"))
        root.chmod(0o755)
        prefix = ("/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")
    try:
        env = _stand_ins(root, apt_succeeds=True)
        env["PATH"] = str(root / "bin")  # and no sudo
        result = _setup(root, env, *prefix)
        assert result.returncode == 1, result.stderr
        assert (
            "as root, run:\n  apt-get update && apt-get install -y python3.11-venv" in result.stderr
        )
        assert not (root / "apt.log").exists()
        assert not (root / "venv").exists()
    finally:
        if root != tmp_path:
            shutil.rmtree(root)
