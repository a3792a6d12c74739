"""Credentials for okx-demo / okx-live: environment, or a key file only its owner can read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from okxscalp.config.credentials import CredentialsError, load_credentials

pytestmark = pytest.mark.timeout(30)

SECRET, PASSPHRASE = "s3cr3t-value-XYZ", "pass-phrase-QWE"
ENV = {"OKX_API_KEY": "key-1", "OKX_API_SECRET": SECRET, "OKX_API_PASSPHRASE": PASSPHRASE}


def key_file(tmp_path: Path, mode: int, content: str | None = None) -> Path:
    file = tmp_path / "okx.json"
    file.write_text(
        content
        if content is not None
        else json.dumps({"api_key": "key-2", "api_secret": SECRET, "passphrase": PASSPHRASE})
    )
    file.chmod(mode)
    return file


def test_environment_first(tmp_path: Path) -> None:
    creds = load_credentials(key_file(tmp_path, 0o600), ENV)
    assert (creds.api_key, creds.secret, creds.passphrase) == ("key-1", SECRET, PASSPHRASE)
    assert SECRET not in repr(creds) and PASSPHRASE not in repr(creds)


def test_incomplete_environment_names_what_is_missing() -> None:
    with pytest.raises(CredentialsError) as info:
        load_credentials(None, {"OKX_API_KEY": "key-1", "OKX_API_SECRET": SECRET})
    assert "OKX_API_PASSPHRASE not set" in str(info.value) and SECRET not in str(info.value)


def test_nothing_configured() -> None:
    with pytest.raises(CredentialsError, match="no OKX API keys"):
        load_credentials(None, {})


def test_private_key_file(tmp_path: Path) -> None:
    creds = load_credentials(key_file(tmp_path, 0o600), {})
    assert (creds.api_key, creds.secret) == ("key-2", SECRET)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_key_file_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    file = key_file(tmp_path, mode)
    with pytest.raises(CredentialsError) as info:
        load_credentials(file, {})
    message = str(info.value)
    assert "group/others" in message and f"chmod 600 {file}" in message
    assert SECRET not in message


def test_malformed_key_file_never_echoes_content(tmp_path: Path) -> None:
    file = key_file(tmp_path, 0o600, '{"api_key": "k", "api_secret": "' + SECRET + '", ')
    with pytest.raises(CredentialsError) as info:
        load_credentials(file, {})
    assert "not readable JSON" in str(info.value) and SECRET not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_key_file_missing_fields(tmp_path: Path) -> None:
    file = key_file(tmp_path, 0o600, json.dumps({"api_key": "k", "api_secret": SECRET}))
    with pytest.raises(CredentialsError, match="missing or empty passphrase"):
        load_credentials(file, {})


def test_missing_key_file(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match="No such file"):
        load_credentials(tmp_path / "absent.json", {})
