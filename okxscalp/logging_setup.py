"""Structured log lines (`time level logger message key=value ...`) with a redaction filter.

The filter is the last line of defence for "no secret in any log line": every record passing a
handler is rendered once, secrets registered at start-up (api secret, passphrase, api key) and
anything that looks like a signature or a secret-bearing header/field are replaced by `***`,
and the record then carries only the redacted text (args cleared, traceback pre-rendered).
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Iterable
from typing import Any, TextIO

REDACTED = "***"

# Header / JSON field / key=value forms that carry secrets in OKX traffic.
_SECRET_FIELD = re.compile(
    r"(?i)(OK-ACCESS-SIGN|OK-ACCESS-PASSPHRASE|OK-ACCESS-KEY|\bsign\b|\bpassphrase\b|\bsecret\b|api_secret|apiKey|api_key)"
    r"(\"?\s*[:=]\s*\"?|'\s*:\s*')"
    r"([^\s\"',}]+)"
)


def kv(**fields: Any) -> str:
    """`key=value` pairs for a log line; values with spaces are quoted."""
    parts = []
    for key, value in fields.items():
        text = f"{value:.6g}" if isinstance(value, float) else str(value)
        if not text or " " in text or "=" in text:
            text = '"' + text.replace('"', "'") + '"'
        parts.append(f"{key}={text}")
    return " ".join(parts)


class RedactSecrets(logging.Filter):
    """Replace registered secret values and secret-looking fields in the rendered record."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self.add_secrets(secrets)

    def add_secrets(self, secrets: Iterable[str]) -> None:
        # Very short values would redact ordinary words; OKX secrets are long.
        self._secrets.update(s for s in secrets if s and len(s) >= 6)

    def redact(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, REDACTED)
        return _SECRET_FIELD.sub(lambda m: m.group(1) + m.group(2) + REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception as exc:  # a bad format string must not lose the line
            message = f"{record.msg!r} (unformattable args: {exc})"
        record.msg = self.redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        record.exc_info = None  # the redacted text is what gets printed
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


class LineFormatter(logging.Formatter):
    """`2026-11-24T10:55:01.123Z INFO okxscalp.engine.executor message`."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        t = time.gmtime(record.created)
        return time.strftime("%Y-%m-%dT%H:%M:%S", t) + f".{int(record.msecs):03d}Z"

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")


_FILTER = RedactSecrets()


def redaction_filter() -> RedactSecrets:
    """The process-wide filter (secrets are registered on it once credentials are known)."""
    return _FILTER


def setup_logging(level: str = "INFO", *, secrets: Iterable[str] = (), stream: TextIO | None = None) -> None:
    """Install one stream handler on the root logger with the redaction filter."""
    _FILTER.add_secrets(secrets)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(LineFormatter())
    handler.addFilter(_FILTER)
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_okxscalp", False):
            root.removeHandler(existing)
    handler._okxscalp = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Library chatter at INFO would drown the engine's lines.
    for noisy in ("aiohttp.access", "websockets", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
