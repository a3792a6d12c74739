"""The command line surface the README promises."""

from __future__ import annotations

import subprocess
import sys

from okxscalp.cli import build_parser


def test_help_lists_every_subcommand() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "okxscalp", "--help"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    for command in ("sim", "config", "screenshots", "--headless", "--exchange"):
        assert command in out


def test_live_profile_is_a_choice_and_unknown_profiles_are_refused() -> None:
    parser = build_parser()
    assert parser.parse_args(["--exchange", "okx-live", "--live"]).exchange == "okx-live"
    proc = subprocess.run(
        [sys.executable, "-m", "okxscalp", "--exchange", "binance"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert "invalid choice" in proc.stderr
