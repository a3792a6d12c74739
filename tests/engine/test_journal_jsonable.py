"""Resolutions are journaled as JSON through journal._jsonable: a set in them (a YAML `!!set`)
must be written in one order in every process, not in PYTHONHASHSEED's (backtest journals are
compared across processes)."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = "from okxscalp.engine.journal import _jsonable; print(_jsonable({'v': {'zeta', 'alpha', 'mid', 'b', 'x1'}}))"


def test_a_set_is_written_in_the_same_order_whatever_the_hash_seed() -> None:
    outputs = {
        subprocess.run([sys.executable, "-c", SCRIPT], check=True, capture_output=True, text=True,
                       env={"PYTHONHASHSEED": str(seed), "PATH": ""}).stdout
        for seed in range(6)
    }
    assert outputs == {"{'v': ['alpha', 'b', 'mid', 'x1', 'zeta']}\n"}
