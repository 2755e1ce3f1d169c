"""CPU package energy from Linux RAPL counters (/sys/class/powercap), where readable.

Most virtual machines and containers expose none; then `read_joules()` is None and the
host's intervals carry no joules (the cost engine prices them by time alone).
"""

from __future__ import annotations

from pathlib import Path

POWERCAP = Path("/sys/class/powercap")


class RaplReader:
    """Accumulates the package domains' energy counters, unwrapping their overflow."""

    def __init__(self, root: Path = POWERCAP) -> None:
        self._domains = _package_domains(root)
        self._last: dict[Path, int] = {}
        self.total_joules = 0.0

    def read_joules(self) -> float | None:
        """Joules consumed since the first read, or None when no counter is readable."""
        if not self._domains:
            return None
        try:
            for domain in self._domains:
                self._advance(domain)
        except OSError:
            self._domains = []  # permissions changed or the domain went away: stop trying
            return None
        return self.total_joules

    def _advance(self, domain: Path) -> None:
        now = int((domain / "energy_uj").read_text())
        last = self._last.get(domain)
        self._last[domain] = now
        if last is None:
            return
        delta = now - last
        if delta < 0:  # the counter wrapped
            delta += int((domain / "max_energy_range_uj").read_text())
        self.total_joules += delta / 1e6


def _package_domains(root: Path) -> list[Path]:
    """Top-level `package-N` domains whose counter this process can read."""
    out = []
    try:
        candidates = sorted(root.glob("intel-rapl:*"))
    except OSError:
        return []
    for d in candidates:
        try:
            if d.name.count(":") == 1 and (d / "name").read_text().startswith("package"):
                int((d / "energy_uj").read_text())
                out.append(d)
        except (OSError, ValueError):
            continue
    return out
