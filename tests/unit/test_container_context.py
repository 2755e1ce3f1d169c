"""Every Python package the project installs reaches the image: the Containerfile copies
it and .containerignore lets it into the build context (a package missing from either
fails only at image build, late in CI)."""

import re
import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


def packages() -> list[str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = data["tool"]["setuptools"]["packages"]["find"]["include"]
    return sorted(p.rstrip("*") for p in include)


def test_every_installed_package_is_copied_into_the_image_and_sent_to_the_build():
    containerfile = (ROOT / "deploy" / "Containerfile").read_text()
    ignore = (ROOT / ".containerignore").read_text().split()
    for package in packages():
        assert re.search(rf"^COPY {package} /src/{package}$", containerfile, re.M), package
        assert f"!{package}/" in ignore, package
