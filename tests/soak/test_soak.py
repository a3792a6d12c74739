"""The chaos/soak scenario as a test (`pytest -m soak`; excluded from the default run).

A shorter schedule than `python3 bench/soak.py` (same harness, same audits): 4 minutes of faults,
6 kill -9 + restarts (one of each kill moment), 30 connection drops. Each audit is an assertion
whose message carries its figure and detail; the summary is printed for the log."""

from __future__ import annotations

from pathlib import Path

import pytest

from okxscalp.soak.scenario import SoakSettings, run_soak
from okxscalp.soak.summary import kill_lines, render

pytestmark = [pytest.mark.soak, pytest.mark.timeout(900)]


async def test_soak_scenario_passes_every_audit(tmp_path: Path) -> None:
    result = await run_soak(SoakSettings(minutes=4, kills=6, drops=30, seed=11, workdir=tmp_path))
    print(kill_lines(result))
    print(render(result))
    assert len(result.kills) == 6 and result.drops_done == 30
    assert {k.phase for k in result.kills} >= {"fill_before_snapshot", "order_in_flight", "during_flatten", "random"}
    for audit in result.audits:
        assert audit.passed, f"{audit.name}: {audit.figure}; {audit.detail}"
