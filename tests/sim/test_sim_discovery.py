"""`okxscalp sim fault ...` without --url finds the running okxscalp's simulator (sim/discovery.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from okxscalp.cli import main
from okxscalp.sim.discovery import (
    SimNotFound,
    find_sim_url,
    live_sims,
    record_path,
    recorded_sim,
    write_record,
)
from okxscalp.sim.server import run_in_thread


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """okxscalp's state directory (preflight.state_dir) inside tmp_path."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    directory = tmp_path / "okxscalp"
    directory.mkdir()
    return directory


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def fake_record(state: Path, pid: int, url: str, host: str | None = None) -> Path:
    import socket

    path = record_path(state, pid)
    path.write_text(json.dumps({"url": url, "pid": pid, "host": host or socket.gethostname(),
                                "started": "2026-01-01T00:00:00Z", "journal": "/j.sqlite"}))
    return path


def test_the_record_lives_while_the_simulator_runs(state: Path) -> None:
    with recorded_sim(state, "http://127.0.0.1:5555", "journal.sqlite") as path:
        assert path == record_path(state, os.getpid())
        record = find_sim_url(state)
        assert (record.url, record.pid) == ("http://127.0.0.1:5555", os.getpid())
        assert record.journal.endswith("journal.sqlite")
    assert not path.exists()


def test_stale_records_are_ignored_and_removed(state: Path) -> None:
    stale = fake_record(state, dead_pid(), "http://127.0.0.1:1")
    write_record(state, "http://127.0.0.1:5555", "journal.sqlite")
    assert [r.url for r in live_sims(state)] == ["http://127.0.0.1:5555"]
    assert not stale.exists()


def test_another_hosts_record_is_ignored_and_left_alone(state: Path) -> None:
    other = fake_record(state, os.getpid(), "http://127.0.0.1:2", host="elsewhere.example")
    with pytest.raises(SimNotFound):
        find_sim_url(state)
    assert other.exists()


def test_none_says_to_start_okxscalp_or_pass_url(state: Path) -> None:
    fake_record(state, dead_pid(), "http://127.0.0.1:1")
    with pytest.raises(SimNotFound, match=r"start okxscalp.*--url"):
        find_sim_url(state)


def test_several_are_listed_and_url_is_asked_for(state: Path) -> None:
    fake_record(state, os.getpid(), "http://127.0.0.1:1111")
    fake_record(state, os.getppid(), "http://127.0.0.1:2222")
    with pytest.raises(SimNotFound) as caught:
        find_sim_url(state)
    text = str(caught.value)
    assert "choose one with --url" in text and "http://127.0.0.1:1111" in text and "http://127.0.0.1:2222" in text


def test_fault_without_url_reaches_the_one_running_simulator(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with run_in_thread() as server, recorded_sim(state, server.rest_url, "journal.sqlite"):
        assert main(["sim", "fault", "stall", "--seconds", "0.5", "--inst-id", "XRP-USDT-SWAP"]) == 0
        err = capsys.readouterr().err
        assert f"using the simulator of okxscalp pid {os.getpid()}" in err and server.rest_url in err
        assert main(["sim", "counters"]) == 0


def test_fault_without_url_and_no_simulator_exits_2_saying_what_to_do(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sim", "fault", "stall", "--seconds", "1"]) == 2
    err = capsys.readouterr().err
    assert "start okxscalp" in err and "--url" in err
