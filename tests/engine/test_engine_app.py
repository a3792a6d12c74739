"""okxscalp/app.py: exchange keys for okx-demo/okx-live, the simulator URL option, refusals."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from okxscalp.app import StartupError, load_credentials, ws_url_for
from okxscalp.config import default_config_path, load_config


def config_with_key_file(path: Path | None):
    config = load_config(str(default_config_path()))
    return replace(config, exchange=replace(config.exchange, credentials_file=str(path) if path else None))


def test_key_problems_become_startup_refusals_without_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OKX_API_KEY", "OKX_API_SECRET", "OKX_API_PASSPHRASE"):
        monkeypatch.delenv(name, raising=False)
    key_file = tmp_path / "okx.json"
    key_file.write_text(json.dumps({"api_key": "k", "api_secret": "leak-me-not", "passphrase": "pp-secret"}))
    key_file.chmod(0o644)
    with pytest.raises(StartupError, match="chmod 600") as err:
        load_credentials(config_with_key_file(key_file))
    assert "leak-me-not" not in str(err.value)
    key_file.chmod(0o600)
    assert load_credentials(config_with_key_file(key_file)).secret == "leak-me-not"


def test_sim_url_becomes_the_websocket_base() -> None:
    assert ws_url_for("http://127.0.0.1:8080/") == "ws://127.0.0.1:8080"
    with pytest.raises(StartupError):
        ws_url_for("ftp://127.0.0.1:8080")


@pytest.mark.timeout(60)
def test_live_needs_the_flag_and_demo_needs_keys() -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(Path.home())}
    live = subprocess.run([sys.executable, "-m", "okxscalp", "--headless", "--exchange", "okx-live"],
                          capture_output=True, text=True, timeout=30, env=env)
    assert live.returncode == 2 and "--live" in live.stderr
    demo = subprocess.run([sys.executable, "-m", "okxscalp", "--headless", "--exchange", "okx-demo"],
                          capture_output=True, text=True, timeout=30, env=env)
    assert demo.returncode == 2 and "OKX_API_KEY" in demo.stderr


@pytest.mark.timeout(60)
def test_invalid_config_starts_nothing_and_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(Path(default_config_path()).read_text().replace("max_positions: 3", "max_positions: -3\n  bogus_key: 1"))
    proc = subprocess.run([sys.executable, "-m", "okxscalp", "--headless", "--config", str(bad)],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1
    assert "scalping.max_positions" in proc.stderr and "scalping.bogus_key" in proc.stderr
