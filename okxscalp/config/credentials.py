"""OKX API keys for okx-demo / okx-live, from the environment or a private key file.

Order: OKX_API_KEY + OKX_API_SECRET + OKX_API_PASSPHRASE (all three), else the config's
`exchange.credentials_file`: JSON `{"api_key", "api_secret", "passphrase"}` that group and others
cannot read (mode 600 or stricter), refused otherwise. Error messages name variables, keys and
paths, never a value read from them; `Credentials.__repr__` hides the secret and passphrase.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping
from pathlib import Path

from okxscalp.config.schema import AppConfig
from okxscalp.okx.auth import Credentials

ENV_KEY, ENV_SECRET, ENV_PASSPHRASE = "OKX_API_KEY", "OKX_API_SECRET", "OKX_API_PASSPHRASE"
ENV_NAMES = (ENV_KEY, ENV_SECRET, ENV_PASSPHRASE)
FILE_FIELDS = ("api_key", "api_secret", "passphrase")


class CredentialsError(Exception):
    """No usable keys; the message says what to set or fix (and contains no secret)."""


def load_credentials(
    credentials_file: str | Path | None, environ: Mapping[str, str] | None = None
) -> Credentials:
    env = os.environ if environ is None else environ
    present = [name for name in ENV_NAMES if env.get(name)]
    if len(present) == len(ENV_NAMES):
        return Credentials(env[ENV_KEY], env[ENV_SECRET], env[ENV_PASSPHRASE])
    if present and not credentials_file:
        missing = [name for name in ENV_NAMES if name not in present]
        raise CredentialsError(f"incomplete OKX keys in the environment: {', '.join(missing)} not set")
    if not credentials_file:
        raise CredentialsError(
            f"no OKX API keys: set {', '.join(ENV_NAMES)}, or exchange.credentials_file in the config "
            "(a JSON file with api_key, api_secret, passphrase; chmod 600)"
        )
    return _from_file(Path(credentials_file).expanduser())


def credentials_for(config: AppConfig, environ: Mapping[str, str] | None = None) -> Credentials:
    return load_credentials(config.exchange.credentials_file, environ)


def _from_file(file: Path) -> Credentials:
    try:
        mode = file.stat().st_mode
    except OSError as exc:
        raise CredentialsError(f"key file {file}: {exc.strerror}") from None
    if not stat.S_ISREG(mode):
        raise CredentialsError(f"key file {file} is not a regular file")
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CredentialsError(
            f"key file {file} is accessible by group/others (mode {oct(mode & 0o777)}); refusing to use it. "
            f"Run: chmod 600 {file}"
        )
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        # Never echo the content (nor a parser message quoting it): it holds the secrets.
        raise CredentialsError(f"key file {file}: not readable JSON ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise CredentialsError(f"key file {file}: expected a JSON object with {', '.join(FILE_FIELDS)}")
    bad = [name for name in FILE_FIELDS if not isinstance(data.get(name), str) or not data.get(name)]
    if bad:
        raise CredentialsError(f"key file {file}: missing or empty {', '.join(bad)} (strings expected)")
    return Credentials(data["api_key"], data["api_secret"], data["passphrase"])
