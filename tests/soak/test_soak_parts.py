"""The soak harness's pure parts: schedule, audits over rows and log text (fast, default run)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

from okxscalp.soak import audits
from okxscalp.soak.schedule import KILL_PHASES, build_schedule
from okxscalp.soak.summary import render

INSTS = ("BTC-USDT-SWAP", "XRP-USDT-SWAP")


def test_schedule_is_seeded_and_has_what_was_asked() -> None:
    a = build_schedule(duration_s=600, drops=100, kills=20, seed=3, inst_ids=INSTS)
    b = build_schedule(duration_s=600, drops=100, kills=20, seed=3, inst_ids=INSTS)
    c = build_schedule(duration_s=600, drops=100, kills=20, seed=4, inst_ids=INSTS)
    assert a == b and a != c
    assert a.count("drop") == 100 and len(a.kill_times_s) == 20
    assert set(a.kill_phases) == set(KILL_PHASES)
    for kind in ("stall_symbol", "stall_channel", "delay", "malformed", "storm", "busy", "reject", "skew"):
        assert a.count(kind) >= 1, kind
    times = [f.at_s for f in a.faults]
    assert times == sorted(times) and min(times) >= 20 and max(times) <= 600 - 15
    assert list(a.kill_times_s) == sorted(a.kill_times_s) and a.kill_times_s[-1] <= 600 - 15


def test_orphan_lines_are_read_from_the_log() -> None:
    text = (
        "x WARNING okxscalp.engine.reconcile ORPHAN position inst=XRP-USDT-SWAP side=long size=1 avg_px=2.1\n"
        "y INFO other line\n"
        "z WARNING okxscalp.engine.reconcile ORPHAN position inst=BTC-USDT-SWAP side=short size=3 avg_px=9\n"
    )
    assert audits.orphan_keys(text) == {("XRP-USDT-SWAP", "long"), ("BTC-USDT-SWAP", "short")}


def test_secret_scan_finds_values_signatures_and_sign_fields() -> None:
    sig = base64.b64encode(hmac.new(b"k", b"msg", hashlib.sha256).digest()).decode()
    clean = ["2026 INFO okxscalp.okx.rest GET /api/v5/account/balance: retry 1 in 0.20s", "sign=*** OK-ACCESS-SIGN: ***"]
    assert audits.scan_secrets(clean, ["okxscalp-sim-secret"]) == (2, [])
    for leak in (f"header {sig}", "the secret is okxscalp-sim-secret", 'login {"sign": "abcdefghij12"}', f"OK-ACCESS-SIGN: {sig}"):
        lines, hits = audits.scan_secrets([*clean, leak], ["okxscalp-sim-secret"])
        assert lines == 3 and hits == [leak], leak


def test_reconnect_audit_needs_every_drop_answered_and_the_targets() -> None:
    assert audits.audit_reconnects([0.02, 0.03, 0.5], 1).passed
    assert not audits.audit_reconnects([0.02, None], 0).passed
    assert not audits.audit_reconnects([1.5, 1.6, 1.7], 0).passed  # median over 1 s
    assert not audits.audit_reconnects([], 3).passed
    assert audits.percentile([3.0, 1.0, 2.0], 50) == 2.0 and audits.percentile([1.0, 2.0], 99) == 2.0


def test_count_audits() -> None:
    assert audits.audit_duplicates({"oxe1": 1, "oxe2": 1}).passed
    dup = audits.audit_duplicates({"oxe1": 2, "oxe2": 1})
    assert not dup.passed and "oxe1×2" in dup.detail
    assert audits.audit_no_client_429({}, {}, {"/api/v5/trade/order": 40}).passed
    assert not audits.audit_no_client_429({"/api/v5/market/ticker": 1}, {}, {}).passed
    assert not audits.audit_no_client_429({}, {"/ws/v5/public": 1}, {}).passed
    assert not audits.audit_no_crash(["run 3 exited(1)"], 0).passed and not audits.audit_no_crash([], 1).passed
    assert audits.audit_restart_positions([(2, {("X", "long")}, set())]).passed
    assert not audits.audit_restart_positions([(2, {("X", "long")}, {("X", "long")})]).passed


def _journal(tmp_path: Path, rows: list[tuple]) -> Path:
    import sqlite3

    path = tmp_path / "j.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE orders (cl_ord_id TEXT, purpose TEXT, px TEXT, quote_age_s REAL, quote_budget_s REAL)")
        conn.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?)", rows)
    return path


def test_stale_and_missing_order_audits_read_the_journal(tmp_path: Path) -> None:
    good = _journal(tmp_path, [("oxe1", "entry", "1.0", 0.2, 1.0), ("oxx1", "exit", None, 1.5, 2.0), ("oxx2", "flatten", None, None, None)])
    assert audits.audit_stale_orders(good).passed
    assert audits.audit_orders_in_journal(good, ["oxe1", "oxx1", "foreign"]).passed
    missing = audits.audit_orders_in_journal(good, ["oxe1", "oxe9"])
    assert not missing.passed and "oxe9" in missing.detail
    (tmp_path / "j.sqlite").unlink()
    stale = _journal(tmp_path, [("oxe1", "entry", "1.0", 1.2, 1.0), ("oxe2", "entry", "1.0", None, None)])
    audit = audits.audit_stale_orders(stale)
    assert not audit.passed and "1 stale, 1 without a recorded quote" in audit.figure


def test_summary_marks_failures(tmp_path: Path) -> None:
    from okxscalp.soak.scenario import SoakResult, SoakSettings

    result = SoakResult(SoakSettings(minutes=1), build_schedule(duration_s=60, drops=2, kills=1, seed=1, inst_ids=INSTS), tmp_path)
    result.audits = [audits.Audit("a", True, "1"), audits.Audit("b", False, "2", "why b failed")]
    text = render(result)
    assert "| a | PASS | 1 |" in text and "| b | FAIL | 2 |" in text and "b: why b failed" in text
    assert not result.passed
