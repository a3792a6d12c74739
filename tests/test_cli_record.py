"""`okxscalp --record DIR [--record-max-mb N]` reaches the engine as RecorderSettings."""

from __future__ import annotations

from pathlib import Path

import pytest

from okxscalp.app import StartupError, recorder_settings
from okxscalp.cli import build_parser
from okxscalp.market.recorder import RecorderSettings


def test_record_flags_become_recorder_settings(tmp_path: Path) -> None:
    parser = build_parser()
    assert recorder_settings(parser.parse_args(["--headless"])) is None
    args = parser.parse_args(["--headless", "--record", str(tmp_path), "--record-max-mb", "100"])
    assert recorder_settings(args) == RecorderSettings(tmp_path, max_total_bytes=100 * 1024 * 1024)
    assert recorder_settings(parser.parse_args(["--record", str(tmp_path)])) == RecorderSettings(tmp_path)


def test_record_max_mb_alone_or_below_one_is_refused(tmp_path: Path) -> None:
    parser = build_parser()
    with pytest.raises(StartupError, match="needs --record"):
        recorder_settings(parser.parse_args(["--record-max-mb", "5"]))
    with pytest.raises(SystemExit):
        parser.parse_args(["--record", str(tmp_path), "--record-max-mb", "0"])
