"""`dtsctl connection new`: the example its own hint prints is a string it accepts without a warning."""

from __future__ import annotations

import re
import shlex

from support.cli import invoke


def test_the_hint_example_passes_its_own_checks() -> None:
    r = invoke("connection", "new")
    assert r.exit_code == 2 and "Missing --endpoint and --auth." in r.stderr
    [example] = re.findall(r"'(dtsctl connection new [^']+)'", r.stderr)
    args = shlex.split(example)[1:]
    built = invoke(*args, "-o", "json")
    assert built.exit_code == 0, built.stderr
    doc = built.json()
    assert doc["valid"] is True
    assert [f["code"] for f in doc["findings"] if f["severity"] in ("error", "warning")] == []
    # The validator agrees on the string it built.
    checked = invoke("connection", "validate", doc["connection_string"], "-o", "json").json()
    assert checked["valid"] and not [f for f in checked["findings"] if f["severity"] in ("error", "warning")]
