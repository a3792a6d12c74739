"""`okxscalp sim` in the foreground: one ready line, serves OKX REST, stops cleanly on SIGTERM/SIGINT."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import urllib.request

import pytest

pytestmark = pytest.mark.timeout(60)

READY = re.compile(r"^okx-sim listening on (http://127\.0\.0\.1:(\d+))$")


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_sim_command_prints_one_ready_line_serves_and_stops(stop_signal: signal.Signals) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "okxscalp", "sim", "--port", "0", "--seed", "3", "--speed", "2",
         "--api-key", "k1", "--api-secret", "s1", "--passphrase", "p1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().rstrip("\n")
        match = READY.match(line)
        assert match, line
        url = match.group(1)
        with urllib.request.urlopen(url + "/api/v5/market/ticker?instId=BTC-USDT-SWAP", timeout=10) as reply:
            body = json.loads(reply.read())
        assert body["code"] == "0" and body["data"][0]["instId"] == "BTC-USDT-SWAP"
        proc.send_signal(stop_signal)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert out == ""  # exactly one line on stdout
    assert "Traceback" not in err


def test_sim_command_refuses_bad_input_without_a_traceback() -> None:
    bad = subprocess.run(
        [sys.executable, "-m", "okxscalp", "sim", "--speed", "0"], capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2 and "speed must be positive" in bad.stderr and "Traceback" not in bad.stderr
