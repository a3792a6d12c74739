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


def test_keys_from_the_environment_first() -> None:
    creds = load_credentials(config_with_key_file(None), {"OKX_API_KEY": "k1", "OKX_API_SECRET": "s1", "OKX_API_PASSPHRASE": "p1"})
    assert (creds.api_key, creds.secret, creds.passphrase) == ("k1", "s1", "p1")
    assert "s1" not in repr(creds) and "p1" not in repr(creds)


def test_key_file_must_be_private(tmp_path: Path) -> None:
    key_file = tmp_path / "okx.json"
    key_file.write_text(json.dumps({"api_key": "k", "api_secret": "very-secret-value", "passphrase": "pp-secret"}))
    key_file.chmod(0o644)
    with pytest.raises(StartupError, match="chmod 600"):
        load_credentials(config_with_key_file(key_file), {})
    key_file.chmod(0o600)
    assert load_credentials(config_with_key_file(key_file), {}).secret == "very-secret-value"


def test_bad_key_file_never_echoes_its_content(tmp_path: Path) -> None:
    key_file = tmp_path / "okx.json"
    key_file.write_text('{"api_key": "k", "api_secret": "leak-me-not"')
    key_file.chmod(0o600)
    with pytest.raises(StartupError) as err:
        load_credentials(config_with_key_file(key_file), {})
    assert "leak-me-not" not in str(err.value)
    with pytest.raises(StartupError, match="OKX_API_KEY"):
        load_credentials(config_with_key_file(None), {})


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
