"""One ISO-8601 parser for the whole repository (``async_qexp.models.timeutil.parse_iso``):
``datetime.fromisoformat`` reads neither ``Z`` nor fractions of other lengths on Python 3.10."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_nothing_parses_iso_8601_but_parse_iso() -> None:
    offenders = []
    for folder in ("async_qexp", "tests", "bench", "examples", "tools"):
        for path in (ROOT / folder).rglob("*.py"):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                code = line.split("#", 1)[0]
                if re.search(r"\.fromisoformat\(|\.strptime\(", code):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []
