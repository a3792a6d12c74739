"""The journal's test fault switch reaches a subprocess through its environment only (as the
chaos suite arms it for an engine process), and the failure it makes is named at once."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from okxscalp.engine.journal_faults import JOURNAL_FAULT_FILE_ENV

SCRIPT = textwrap.dedent(
    """
    import logging, sys, time
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    from okxscalp.engine.journal import Journal
    from okxscalp.market.events import FallbackEvent, FallbackKind
    j = Journal(sys.argv[1])
    j.record_fallback(FallbackEvent(1.0, "test", "", FallbackKind.ENTRY_GATE, "probe", "none"))
    deadline = time.monotonic() + 10
    while j.write_failure is None and time.monotonic() < deadline:
        time.sleep(0.01)
    print(j.write_failure, flush=True)
    """
)


@pytest.mark.timeout(60)
def test_the_fault_switch_is_armed_by_the_environment_of_a_subprocess(tmp_path: Path) -> None:
    switch = tmp_path / "disk-full"
    switch.touch()
    env = {**os.environ, JOURNAL_FAULT_FILE_ENV: str(switch)}
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "journal.sqlite")],
        capture_output=True, text=True, timeout=45, env=env,
    )
    assert proc.stdout.strip() == "journal write failed: database or disk is full (disk full?)", proc.stderr[-2000:]
    assert f"journal test fault switch armed env={JOURNAL_FAULT_FILE_ENV} file={switch}" in proc.stderr
