"""The simulator's paper account survives a restart through its file (okxscalp/sim/persist.py).

Every part of the account goes through a real file and comes back: balance, positions (avgPx,
leverage), resting orders with attached TP/SL not armed yet, armed attached and stand-alone algo
orders, final orders, fills, id sequences. A file that is not an account stops the start with a
clear error; a failed write is logged and counted while the simulator keeps serving; a fresh
account keeps the old file as a backup.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import pytest

from okxscalp.cli import main
from okxscalp.sim.exchange import SimExchange
from okxscalp.sim.persist import (
    FRESH_FLAG,
    SCHEMA_VERSION,
    AccountFileError,
    AccountStore,
    account_file_for,
    exchange_from_file,
)
from okxscalp.sim.server import SimServer

BTC, ETH, XRP = "BTC-USDT-SWAP", "ETH-USDT-SWAP", "XRP-USDT-SWAP"
# Wire fields that are "now" or the market's current prices, not the account's state.
MOMENT_FIELDS = {"uTime", "pTime", "markPx", "idxPx", "last", "upl", "uplLastPx", "uplRatio", "uplRatioLastPx",
                 "notionalUsd", "imr", "mmr", "mgnRatio", "margin", "liqPx", "bePx"}


def without_moment(items: list[dict]) -> list[dict]:
    return [{k: v for k, v in item.items() if k not in MOMENT_FIELDS} for item in items]


def ok(reply: dict) -> dict:
    assert reply["sCode"] == "0", reply
    return reply


def trade_a_little(ex: SimExchange) -> dict[str, Any]:
    """An account with something of every kind; returns the ids to look for afterwards."""
    ex.advance_sim_seconds(2)
    ex.set_leverage({"instId": BTC, "mgnMode": "cross", "lever": "7"})
    entry = ok(ex.place_order({"instId": BTC, "tdMode": "cross", "side": "buy", "posSide": "long",
                               "ordType": "market", "sz": "2", "clOrdId": "entry1",
                               "attachAlgoOrds": [{"tpTriggerPx": "120000", "slTriggerPx": "70000"}]}))
    ok(ex.place_order({"instId": XRP, "tdMode": "cross", "side": "sell", "posSide": "short",
                       "ordType": "market", "sz": "3"}))
    standalone = ex.place_algo_order({"instId": XRP, "tdMode": "cross", "side": "buy", "posSide": "short",
                                      "ordType": "conditional", "closeFraction": "1", "slTriggerPx": "9"})
    ok(standalone)
    resting = ok(ex.place_order({"instId": ETH, "tdMode": "cross", "side": "buy", "posSide": "long",
                                 "ordType": "post_only", "px": "1000", "sz": "1", "clOrdId": "rest1",
                                 "attachAlgoOrds": [{"slTriggerPx": "900"}]}))
    canceled = ok(ex.place_order({"instId": ETH, "tdMode": "cross", "side": "buy", "posSide": "long",
                                  "ordType": "limit", "px": "1001", "sz": "1"}))
    ok(ex.cancel_order({"instId": ETH, "ordId": canceled["ordId"]}))
    ex.advance_sim_seconds(1)
    ex.drain_events()
    return {"entry": entry["ordId"], "resting": resting["ordId"], "canceled": canceled["ordId"],
            "standalone": standalone["algoId"]}


def account_views(ex: SimExchange, ids: dict[str, Any]) -> dict[str, Any]:
    balance = ex.balance_wire()
    detail = balance["details"][0]
    return {
        "cash": detail["cashBal"],
        "positions": without_moment(ex.positions_wire()),
        "pending": without_moment(ex.orders_pending()),
        "algos": without_moment(ex.algo_orders_pending()),
        "fills": ex.fills(limit=100),
        "entry": without_moment([ex.get_order(BTC, ids["entry"])]),
        "canceled": without_moment([ex.get_order(ETH, ids["canceled"])]),
        "leverage": ex.leverage_info("cross", f"{BTC},{XRP}"),
        "config": ex.config_wire()["posMode"],
    }


def test_every_part_of_the_account_round_trips_through_the_file(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite.sim-account.json"
    before = SimExchange(seed=3)
    ids = trade_a_little(before)
    assert AccountStore(path, before).save()

    after, restored = exchange_from_file(path, seed=4)
    assert restored
    want, got = account_views(before, ids), account_views(after, ids)
    assert got == want
    # The parts, by name, so a regression says which one.
    btc = next(p for p in got["positions"] if p["instId"] == BTC)
    assert (btc["pos"], btc["lever"], btc["avgPx"]) == ("2.00", "7", want["positions"][0]["avgPx"])
    assert {a["algoId"] for a in got["algos"]} >= {ids["standalone"]}
    assert any(a["instId"] == BTC and a["tpTriggerPx"] == "120000.0" for a in got["algos"])
    assert [o["clOrdId"] for o in got["pending"]] == ["rest1"]
    assert got["pending"][0]["attachAlgoOrds"][0]["slTriggerPx"] == "900.00"
    assert len(got["fills"]) == 2 and got["canceled"][0]["state"] == "canceled"
    assert after.export_account()["account"] == before.export_account()["account"]


def test_the_restored_account_trades_on_each_market_from_its_saved_price(tmp_path: Path) -> None:
    path = tmp_path / "account.json"
    before = SimExchange(seed=3)
    ids = trade_a_little(before)
    AccountStore(path, before).save()
    saved_last = {inst: m.last for inst, m in before.markets.items()}
    saved_trade_seq = before.markets[BTC].trade_seq

    after, _ = exchange_from_file(path, seed=4)
    for inst_id, market in after.markets.items():
        assert market.last == pytest.approx(saved_last[inst_id], abs=market.tick)
    # New ids continue after the saved ones: nothing the engine knows is ever reused.
    new = ok(after.place_order({"instId": BTC, "tdMode": "cross", "side": "sell", "posSide": "long",
                                "ordType": "market", "sz": "1"}))
    assert int(new["ordId"]) > max(int(ids["entry"]), int(ids["canceled"]))
    fill = after.fills(BTC, limit=1)[0]
    assert int(fill["tradeId"]) > saved_trade_seq
    assert int(fill["billId"]) > max(int(f["billId"]) for f in before.fills(limit=100))
    # The resting entry fills when the market comes to it, and its attached stop arms then.
    after.move_price(ETH, 999.0)
    after.advance_sim_seconds(1)
    assert after.get_order(ETH, ids["resting"])["state"] == "filled"
    assert any(a["instId"] == ETH and a["slTriggerPx"] == "900.00" for a in after.algo_orders_pending())


def test_a_position_is_not_stopped_by_the_restart(tmp_path: Path) -> None:
    """A stop 1 % under the price survives the restart (the shipped start price of BTC is far away)."""
    path = tmp_path / "account.json"
    before = SimExchange(seed=3)
    before.move_price(BTC, 60_000.0)
    before.advance_sim_seconds(2)
    sl = round(before.markets[BTC].last * 0.99, 1)
    ok(before.place_order({"instId": BTC, "tdMode": "cross", "side": "buy", "posSide": "long",
                           "ordType": "market", "sz": "1", "attachAlgoOrds": [{"slTriggerPx": str(sl)}]}))
    AccountStore(path, before).save()
    after, _ = exchange_from_file(path, seed=3)
    after.advance_sim_seconds(5)
    assert [p["pos"] for p in after.positions_wire()] == ["1.00"]
    assert [a["slTriggerPx"] for a in after.algo_orders_pending()] == [f"{sl:.1f}"]


def test_saves_only_when_the_account_changed_and_at_most_once_an_interval(tmp_path: Path) -> None:
    ex = SimExchange(seed=3)
    store = AccountStore(tmp_path / "account.json", ex, interval_s=1.0)
    job = store.due(now_s=100.0)
    assert job is not None and store.write(*job)
    ex.advance_sim_seconds(5)  # the market moves; the account does not
    assert store.due(now_s=200.0) is None
    ok(ex.place_order({"instId": XRP, "tdMode": "cross", "side": "buy", "posSide": "long",
                       "ordType": "market", "sz": "1"}))
    assert store.due(now_s=200.5) is not None  # changed, a second after the last attempt
    assert store.due(now_s=200.9) is None  # attempted 0.4 s ago
    assert store.saves == 1


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"{not json", "is not valid JSON"),
        (b'{"hello": 1}', "is not an okxscalp simulator account"),
        (orjson.dumps({"schema": "okxscalp-sim-account", "version": SCHEMA_VERSION + 1, "markets": {},
                       "account": {}}), "schema version"),
    ],
)
def test_an_unreadable_file_stops_the_start_naming_the_file_and_the_flag(
    tmp_path: Path, content: bytes, why: str
) -> None:
    path = tmp_path / "account.json"
    path.write_bytes(content)
    with pytest.raises(AccountFileError) as caught:
        SimServer(account_file=str(path))
    assert str(path) in str(caught.value) and FRESH_FLAG in str(caught.value) and why in str(caught.value)
    assert path.read_bytes() == content  # untouched


def test_a_file_with_a_damaged_record_is_refused_with_the_field_named(tmp_path: Path) -> None:
    path = tmp_path / "account.json"
    ex = SimExchange(seed=3)
    trade_a_little(ex)
    AccountStore(path, ex).save()
    doc = orjson.loads(path.read_bytes())
    doc["account"]["positions"][0]["avg_px"] = "lots"
    path.write_bytes(orjson.dumps(doc))
    with pytest.raises(AccountFileError, match=r"positions\[0\]\.avg_px"):
        exchange_from_file(path)


def test_the_standalone_sim_refuses_a_corrupt_account_file_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "account.json"
    path.write_text("garbage")
    assert main(["sim", "--account-file", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and FRESH_FLAG in err and "Traceback" not in err


async def test_a_failed_write_is_logged_and_counted_and_the_simulator_keeps_serving(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "state"
    folder.mkdir()
    path = folder / "account.json"
    server = SimServer(account_file=str(path))
    await server.start()
    try:
        store = server.account_store
        assert store is not None and path.exists()
        shutil.rmtree(folder)  # the directory is gone: every write fails from now on
        with caplog.at_level(logging.ERROR, logger="okxscalp.sim.persist"):
            ok(server.exchange.place_order({"instId": XRP, "tdMode": "cross", "side": "buy", "posSide": "long",
                                            "ordType": "market", "sz": "1"}))
            for _ in range(400):
                if store.save_failures:
                    break
                await asyncio.sleep(0.01)
        assert store.save_failures >= 1
        assert any(r.levelno == logging.ERROR and str(path) in r.getMessage() for r in caplog.records)
        url = server.rest_url + "/api/v5/market/ticker?instId=XRP-USDT-SWAP"
        body = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=10).read())
        assert orjson.loads(body)["code"] == "0"
        folder.mkdir()  # the next change is saved again
        ok(server.exchange.place_order({"instId": XRP, "tdMode": "cross", "side": "buy", "posSide": "long",
                                        "ordType": "market", "sz": "1"}))
        for _ in range(400):
            if path.exists():
                break
            await asyncio.sleep(0.01)
        assert path.exists()
    finally:
        await server.stop()
    assert store.last_error is None


async def test_the_server_saves_at_stop_and_the_next_one_resumes_the_account(tmp_path: Path) -> None:
    path = account_file_for(str(tmp_path / "journal.sqlite"))
    first = SimServer(account_file=path, initial_equity=5_000.0)
    await first.start()
    ok(first.exchange.place_order({"instId": XRP, "tdMode": "cross", "side": "buy", "posSide": "long",
                                   "ordType": "market", "sz": "2"}))
    cash = first.exchange.desk.cash
    await first.stop()

    second = SimServer(account_file=path, initial_equity=5_000.0)
    assert second.account_restored
    assert second.exchange.desk.cash == cash
    assert [p["pos"] for p in second.exchange.positions_wire()] == ["2.00"]


def test_a_fresh_account_keeps_the_old_file_as_a_backup(tmp_path: Path) -> None:
    path = tmp_path / "account.json"
    ex = SimExchange(seed=3, initial_equity=2_000.0)
    trade_a_little(ex)
    AccountStore(path, ex).save()
    saved = path.read_bytes()

    server = SimServer(account_file=str(path), fresh_account=True, initial_equity=2_000.0)
    assert not server.account_restored
    assert server.exchange.positions_wire() == [] and server.exchange.orders_pending() == []
    assert server.exchange.balance_wire()["totalEq"] == "2000"
    backups = list(tmp_path.glob("account.json.*.bak"))
    assert len(backups) == 1 and backups[0].read_bytes() == saved
