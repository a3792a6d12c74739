"""The chaos/soak scenario as a test (`pytest -m soak`; excluded from the default run).

A shorter schedule than `python3 bench/soak.py` (same harness, same audits): 4 minutes of faults,
6 kill -9 + restarts (one of each kill moment), 30 connection drops, and every fault of the
engine's own machinery (issue 10): a sustained delivery delay, a large clock skew, a balance
outage across a restart, and one episode between each two kills (journal disk full, private
subscription refused, fills outage at a close, cancels failing during a flatten, the stop list
failing during a reconcile). Each audit is an assertion whose message carries its figure and
detail; the summary is printed for the log."""

from __future__ import annotations

from pathlib import Path

import pytest

from okxscalp.soak.machinery import RULES
from okxscalp.soak.scenario import SoakSettings, run_soak
from okxscalp.soak.summary import kill_lines, render

pytestmark = [pytest.mark.soak, pytest.mark.timeout(900)]


async def test_soak_scenario_passes_every_audit(tmp_path: Path) -> None:
    result = await run_soak(SoakSettings(minutes=4, kills=6, drops=30, seed=11, workdir=tmp_path))
    print(kill_lines(result))
    print(render(result))
    assert len(result.kills) == 6 and result.drops_done == 30
    assert {k.phase for k in result.kills} >= {"fill_before_snapshot", "order_in_flight", "during_flatten", "random"}
    assert {f.kind for f in result.machinery} == set(RULES), "every engine-machinery fault was applied"
    failed = [f"{a.name}: {a.figure}; {a.detail}" for a in result.audits if not a.passed]
    assert not failed, "\n".join(failed)
