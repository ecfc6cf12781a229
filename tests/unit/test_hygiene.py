"""The Makefile and the tests touch only what they start: nothing kills processes by
name (a Prometheus or gateway of the host's is not ours)."""
from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BY_NAME = re.compile(r"\b(p" + r"kill|kill" + r"all)\b")  # spelled apart: this file is scanned too


def test_nothing_kills_by_name():
    files = [REPO / "Makefile", *(REPO / "systemd").glob("*"), *(REPO / "tests").rglob("*.py"),
             *(REPO / "bench").rglob("*.py")]
    offenders = [f"{p.relative_to(REPO)}:{n}" for p in files if p.is_file()
                 for n, line in enumerate(p.read_text(errors="replace").splitlines(), 1) if BY_NAME.search(line)]
    assert offenders == []
