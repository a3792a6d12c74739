"""okxscalp/app.py and the embedded simulator: its paper account file beside the journal, its URL
recorded in the state directory while it runs (for `okxscalp sim fault` without --url), and the
refusals (a corrupt account file, --fresh-account where there is no embedded simulator)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from engine_helpers import make_config

from okxscalp.cli import main
from okxscalp.sim.persist import account_file_for


def okxscalp(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "okxscalp", "--headless", "--exchange", "sim", *args],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, env=env)


def wait_for_path(path: Path, proc: subprocess.Popen[str], timeout_s: float) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end and proc.poll() is None:
        if path.exists():
            return True
        time.sleep(0.05)
    return path.exists()


@pytest.mark.timeout(90)
def test_headless_keeps_the_account_beside_the_journal_and_records_its_simulator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_config(tmp_path, symbols=["XRP-USDT"])
    state_home = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(state_home))
    env = {**os.environ, "XDG_STATE_HOME": str(state_home)}
    journal = config.journal_path
    proc = okxscalp("--config", str(tmp_path / "config.yaml"), "--journal", journal, env=env)
    record = state_home / "okxscalp" / f"sim-{proc.pid}.json"
    account = Path(account_file_for(journal))
    try:
        assert wait_for_path(record, proc, 40), proc.stderr.read() if proc.poll() is not None else "no record"
        assert wait_for_path(account, proc, 10)
        assert wait_for_path(Path(journal), proc, 30)  # the engine runs: SIGTERM is handled from now on
        assert main(["sim", "counters"]) == 0  # no --url: the one running okxscalp's simulator
        assert f"okxscalp pid {proc.pid}" in capsys.readouterr().err
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert not record.exists() and account.exists()

    account.write_text("{ damaged")
    refused = subprocess.run([sys.executable, "-m", "okxscalp", "--headless", "--config", str(tmp_path / "config.yaml"),
                              "--journal", journal], capture_output=True, text=True, timeout=60, env=env)
    assert refused.returncode == 2
    assert str(account) in refused.stderr and "--fresh-account" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert account.read_text() == "{ damaged"


@pytest.mark.timeout(60)
def test_fresh_account_needs_the_embedded_simulator(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "okxscalp", "--headless", "--journal", str(tmp_path / "j.sqlite"),
                           "--sim-url", "http://127.0.0.1:9", "--fresh-account"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "--fresh-account only applies to the embedded simulator" in proc.stderr
