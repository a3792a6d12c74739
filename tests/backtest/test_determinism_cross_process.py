"""Two `okxscalp backtest` processes with different PYTHONHASHSEED write the same journal (issue 14:
"the same data, config and seed give byte-identical journals"; DESIGN.md "Determinism").

test_runner.py compares two runs in one process, where every set of strings iterates in the same
order; here each run has its own string hashes, so any order taken from a set of strings (or a
dict built from one) that reaches the journal, the timing of the work or the simulator shows up
as a difference. Journals are compared by a hash of their rows (`iterdump`): SQLite files are
not byte-stable."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from journal_rows import journal_rows_hash

from okxscalp.backtest.journal_read import read_journal

REPO = Path(__file__).resolve().parents[2]
T0_MS = 1_732_435_200_000
# Three instruments, so that whatever the engine and the simulator do for several at once (one
# step's pushes, the instrument loops, reconciliation) is in the run; two of them fall silent
# together for 10 s (a recorded gap: stalls, lagging channels, refused reads, forced reconnects).
START_PX = {"XRP-USDT-SWAP": 2.2, "ETH-USDT-SWAP": 3300.0, "DOGE-USDT-SWAP": 0.38}
GAP_MS = (T0_MS + 100_000, T0_MS + 110_000)
SILENT_IN_GAP = ("XRP-USDT-SWAP", "DOGE-USDT-SWAP")
SEEDS = ("1", "2")


def _ticks(path: Path, minutes: float = 5.0) -> Path:
    """A seeded walk per instrument, one tick every 0.2 s, GAP_MS left out for SILENT_IN_GAP."""
    rng = random.Random(11)
    px = dict(START_PX)
    lines = []
    for i in range(int(minutes * 60 * 5)):
        ts = T0_MS + i * 200
        for inst_id in START_PX:
            px[inst_id] *= 1 + rng.gauss(0, 0.0005)
            if not (inst_id in SILENT_IN_GAP and GAP_MS[0] < ts < GAP_MS[1]):
                lines.append(orjson.dumps({"ts": ts, "instId": inst_id, "px": f"{px[inst_id]:.5g}"}))
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path




@pytest.mark.timeout(120)
def test_backtests_in_processes_with_different_hash_seeds_write_the_same_journal(tmp_path: Path) -> None:
    data = _ticks(tmp_path / "ticks.jsonl")
    runs = []
    for seed in SEEDS:  # both at once: two cores
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = tmp_path / f"hashseed-{seed}"
        command = [sys.executable, "-m", "okxscalp", "backtest", "--data", str(data), "--out", str(out)]
        runs.append((out, subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE,
                                           stderr=subprocess.STDOUT, text=True)))
    for _, process in runs:
        output, _ = process.communicate(timeout=100)
        assert process.returncode == 0, output
    journals = [out / "default.journal.sqlite" for out, _ in runs]
    contents = read_journal(journals[0])
    assert contents.orders  # it traded: the hash covers decisions, not just start-up
    assert {e.symbol for e in contents.fallbacks} >= set(SILENT_IN_GAP)  # the gap was replayed
    assert journal_rows_hash(journals[0]) == journal_rows_hash(journals[1])
