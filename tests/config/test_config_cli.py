"""`okxscalp config check` and `okxscalp config explain`, run in-process through register()."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest
from config_helpers import SHIPPED, write

from okxscalp.config import cli

pytestmark = pytest.mark.timeout(30)


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="okxscalp")
    parser.add_argument("--config", default=None)  # the root parser's option
    cli.register(parser.add_subparsers(dest="command"))
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as exc:
        return int(exc.code or 0)
    return args.handler(args)


def test_check_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("config", "check", str(SHIPPED)) == cli.EXIT_OK
    assert capsys.readouterr().out.startswith(f"ok: {SHIPPED}")


def test_check_default_path(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no ./config/default.yaml here: the repository's is used
    assert run("config", "check") == cli.EXIT_OK
    assert str(SHIPPED) in capsys.readouterr().out


def test_check_invalid_lists_every_problem(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    text = SHIPPED.read_text()
    text = text.replace("default_offset_percent: 0.05", "default_offset_percent: 0.0")
    text = text.replace("  order_s: 1.0", "  order_s: 60.0")
    file = write(tmp_path, text)
    assert run("config", "check", str(file)) == cli.EXIT_INVALID
    out = capsys.readouterr().out
    assert "2 config problems" in out
    assert "order_executor.limit_order.default_offset_percent" in out and "freshness.order_s" in out
    assert f"{file}:" in out


def test_explain_table_with_sources_and_chain(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        run("config", "explain", "XRP-USDT-SWAP", "choppy", "--chain", "--config", str(SHIPPED))
        == cli.EXIT_OK
    )
    out = capsys.readouterr().out
    assert "XRP-USDT · choppy" in out
    for text in ("tp_percent", "limit_offset_percent", "0.03", "leverage", "not set"):
        assert text in out
    assert "order_executor.limit_order.by_symbol.XRP-USDT.by_regime.choppy.limit_offset_percent" in out
    for name in ("margin_mode", "orphan_policy", "orphan_sl_percent"):  # account-wide, with their key
        assert f"scalping.{name}" in out


def test_explain_all_regimes_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("--config", str(SHIPPED), "config", "explain", "DOGE-USDT") == cli.EXIT_OK
    out = capsys.readouterr().out
    assert all(f"DOGE-USDT · {regime}" in out for regime in ("trending", "choppy", "ranging"))


def test_explain_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("config", "explain", "ADA-USDT", "--config", str(SHIPPED)) == cli.EXIT_USAGE
    assert "ADA-USDT is not configured" in capsys.readouterr().err
    assert run("config", "explain", "XRP-USDT", "sideways") == cli.EXIT_USAGE
    assert run("config") == cli.EXIT_USAGE


def test_explain_invalid_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = write(tmp_path, "symbols: 3\n")
    assert run("config", "explain", "XRP-USDT", "--config", str(file)) == cli.EXIT_INVALID
    assert "symbols" in capsys.readouterr().out


def test_the_installed_command_line_uses_these_exit_codes(tmp_path: Path) -> None:
    ok = subprocess.run(
        [sys.executable, "-m", "okxscalp", "config", "check", str(SHIPPED)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == cli.EXIT_OK and ok.stdout.startswith("ok:")
    broken = write(tmp_path, SHIPPED.read_text().replace("  XRP-USDT:", "  XRP-USDT-SWAP:"))
    bad = subprocess.run(
        [sys.executable, "-m", "okxscalp", "config", "check", str(broken)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == cli.EXIT_INVALID
    assert (
        "symbol_profiles.XRP-USDT-SWAP" in bad.stdout
        and "symbol_profiles.XRP-USDT: XRP-USDT is in `symbols` but has no profile" in bad.stdout
    )
