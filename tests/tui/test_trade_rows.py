"""Pure formatting of orders, trades and P&L, and which notices become toasts (no textual app)."""

from __future__ import annotations

import time
from dataclasses import replace

from fake_engine import closed_trade, losing_regime_summary, rejected_order, working_entry

from okxscalp.engine.views import Notice, RegimeStats, TradesSummary
from okxscalp.tui.notices import MAX_TEXT, NoticeFeed, severity_of, toast_of
from okxscalp.tui.trade_rows import (
    day_line,
    order_detail_line,
    order_row,
    positions_title,
    regime_row,
    trade_detail_line,
    trade_row,
    trade_time,
)


def plain(cells: tuple) -> list[str]:
    return [str(cell) for cell in cells]


def notice(seq: int, kind: str = "fill", severity: str = "information") -> Notice:
    return Notice(seq, 0.0, kind, severity, f"title {seq}", f"text {seq}")


def test_a_working_entry_shows_its_quote_age_and_source() -> None:
    cells = plain(order_row(working_entry()))
    assert cells[:8] == ["BTC-USDT", "entry", "buy", "live", "97100.0", "0/1", "4.2s", "0.3s ws"]
    assert plain(order_row(working_entry(quote_age_s=None)))[7] == "—"  # not priced from a quote


def test_a_rejected_order_says_so_in_words_with_the_exchange_text_first() -> None:
    cells = plain(order_row(rejected_order()))
    assert cells[0] == "!ETH-USDT" and cells[3] == "REJECTED"
    detail = order_detail_line(rejected_order()).plain
    assert detail.startswith("REJECTED: 51008 Order failed. Insufficient USDT margin")
    assert "ent2eth" in detail
    assert order_detail_line(None).plain == "no orders"


def test_a_protective_leg_the_exchange_does_not_list_is_alarming_in_words() -> None:
    leg = replace(working_entry(), role="sl", ord_type="oco", state="not_listed", detail="sl leg not listed")
    assert plain(order_row(leg))[3] == "NOT LISTED"


def test_market_orders_and_partial_fills_read_short() -> None:
    market = replace(working_entry(), role="close", ord_type="market", px=None, state="partially_filled", filled=0.4)
    cells = plain(order_row(market))
    assert cells[3] == "partial" and cells[4] == "market" and cells[5] == "0.4/1"


def test_positions_title_counts_working_orders_entries_and_rejections() -> None:
    filled = replace(working_entry(), key="done", state="filled")
    stop = replace(working_entry(), key="algo1", role="sl", state="unverified")
    assert positions_title(0, ()) == "Positions (0) · orders 0"
    assert positions_title(1, (working_entry(), stop, filled)) == "Positions (1) · orders 2 (entries 1)"
    assert positions_title(0, (rejected_order(),)) == "Positions (0) · orders 0 · REJECTED 1"


def test_a_win_loss_ratio_below_one_is_flagged_in_words() -> None:
    choppy, trending = losing_regime_summary().by_regime
    cells = plain(regime_row(choppy))
    assert cells == ["choppy", "10", "70%", "+1.00", "-4.40", "0.23", "✗ LOSS > WIN", "-6.20"]
    assert plain(regime_row(trending))[5:7] == ["3.00", "✓"]
    unsettled = RegimeStats("", 1, 0, 0, None, None, None, None, 0.0)
    assert plain(regime_row(unsettled)) == ["orphan", "1", "—", "—", "—", "—", "—", "+0.00"]


def test_the_day_line_weighs_today_against_the_loss_limit() -> None:
    assert day_line(losing_regime_summary()).plain == "day -42.10 / limit -300.00 (14%) · unknown P&L 1"
    near = TradesSummary(day_pnl=-250.0, daily_loss_limit=300.0, unknown_pnl=0, by_regime=())
    assert "(83%) NEAR LIMIT" in day_line(near).plain
    hit = replace(near, day_pnl=-301.0)
    assert "(100%) LIMIT HIT" in day_line(hit).plain
    unknown = TradesSummary(day_pnl=None, daily_loss_limit=None, unknown_pnl=2, by_regime=())
    text = day_line(unknown).plain
    assert "day P&L UNKNOWN" in text and "limit unknown" in text and "unknown P&L 2" in text
    assert day_line(None).plain == "day P&L not reported yet"


def test_an_unknown_exit_shows_a_question_mark_and_its_worst_case() -> None:
    cells = plain(trade_row(closed_trade(pnl=None)))
    assert cells[5] == "?" and cells[7] == "?≥-6.10" and cells[8] == "—"
    assert "exit price UNKNOWN, P&L at worst -6.10" in trade_detail_line(closed_trade(pnl=None)).plain
    known = plain(trade_row(closed_trade(pnl=3.2)))
    assert known[1:] == ["XRP-USDT", "long", "choppy", "2.3451", "2.2982", "tp", "+3.20", "0.03"]
    sl_leg = plain(trade_row(replace(closed_trade(), reason="stop_loss_exchange")))
    assert sl_leg[6] == "SL (x)"  # the engine's reason names, short enough for the column
    assert plain(trade_row(replace(closed_trade(), reason="gone_from_exchange", entry_regime="")))[3:7:3] == [
        "orphan",
        "gone",
    ]


def test_trade_time_is_the_clock_today_and_the_date_before() -> None:
    now = time.mktime((2025, 6, 2, 15, 0, 0, 0, 0, -1))
    assert trade_time(now - 3600, now=now) == "14:00"
    assert trade_time(now - 86400, now=now) == "06-01"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_old_notices_are_not_toasted_and_each_new_one_once() -> None:
    clock = Clock()
    feed = NoticeFeed(clock=clock)
    assert feed.new_toasts([notice(1), notice(2)]) == []  # before the console was looking
    assert [t.title for t in feed.new_toasts([notice(1), notice(2), notice(3)])] == ["title 3"]
    clock.now += 60
    assert feed.new_toasts([notice(2), notice(3)]) == []
    empty_first = NoticeFeed(clock=clock)
    assert empty_first.new_toasts([]) == []
    assert [t.title for t in empty_first.new_toasts([notice(0)])] == ["title 0"]


def test_one_notice_toast_at_a_time_the_rest_wait_and_show_together() -> None:
    clock = Clock()
    feed = NoticeFeed(clock=clock)
    feed.new_toasts([])
    first = feed.new_toasts([notice(1, "rejected", "error")])
    assert [(t.title, t.severity) for t in first] == [("title 1", "error")]
    burst = [notice(1, "rejected", "error"), notice(2), notice(3), notice(4), notice(5), notice(6)]
    assert feed.new_toasts(burst) == []  # the slot is taken: they wait
    clock.now += first[0].timeout - 0.1
    assert feed.new_toasts(burst) == []
    clock.now += 0.2
    (merged,) = feed.new_toasts(burst)
    assert merged.title == "5 notices"
    assert merged.message == "title 2; title 3; title 4; +2 more"
    assert merged.severity == "information"
    clock.now += 60
    assert feed.new_toasts(burst) == []  # each notice once


def test_a_burst_keeps_its_gravest_severity_and_more_slots_show_the_newest_alone() -> None:
    feed = NoticeFeed(max_visible=3, clock=Clock())
    feed.new_toasts([])
    toasts = feed.new_toasts([notice(1), notice(2, "rejected", "error"), notice(3), notice(4), notice(5)])
    assert [t.title for t in toasts] == ["3 notices", "title 4", "title 5"]
    assert toasts[0].severity == "error"


def test_notices_lost_between_samples_are_said() -> None:
    clock = Clock()
    feed = NoticeFeed(clock=clock)
    feed.new_toasts([notice(1)])
    (toast,) = feed.new_toasts([notice(5)])
    assert toast.title == "4 notices" and "3 not shown" in toast.message and toast.severity == "warning"


def test_toast_text_is_short_and_names_symbols() -> None:
    long = Notice(1, 0.0, "rejected", "error", "Order rejected: entry",
                  "ETH-USDT-SWAP sell 2 @ 3457: 51008 Order failed. Insufficient USDT margin in account")
    toast = toast_of(long)
    assert toast.message.startswith("ETH-USDT sell 2 @ 3457: 51008")
    assert len(toast.message) == MAX_TEXT and toast.message.endswith("…")


def test_severity_is_textuals_or_derived_from_the_kind() -> None:
    assert severity_of(notice(1, "tp", "information")) == "information"
    assert severity_of(notice(1, "rejected", "critical")) == "error"
    assert severity_of(notice(1, "close", "")) == "warning"  # unknown: never shown as calm
