"""`--metrics-port`: the real engine against the simulator, scraped over HTTP and parsed with
prometheus_client's own parser — quotes, connections, halts, equity, positions, fallbacks after a
fault; a part that cannot be read is counted and logged while the rest is served; and the CLI
(`okxscalp --headless --metrics-port 0`) serves it and stops cleanly on SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import math
import re
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest
from engine_helpers import make_config, open_position, running_engine, sim_server, wait_until
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from okxscalp.config.schema import Purpose
from okxscalp.engine.account import EngineStartError
from okxscalp.engine.orchestrator import Engine
from okxscalp.engine.supervisor import Halt
from okxscalp.market.events import FallbackKind
from okxscalp.metrics import MetricsAddress
from okxscalp.okx.models import Side

SYMBOLS = ["XRP-USDT", "DOGE-USDT"]
INST_IDS = [f"{s}-SWAP" for s in SYMBOLS]
CONNECTIONS = ("public", "private", "business")

Samples = dict[str, list[Sample]]


async def scrape(session: aiohttp.ClientSession, url: str) -> Samples:
    async with session.get(url) as resp:
        text = await resp.text()
        assert resp.status == 200, text
        assert resp.headers["Content-Type"].startswith("text/plain; version=")
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def value(samples: Samples, name: str, **labels: str) -> float | None:
    """The one sample of `name` with these labels (others ignored), None when absent."""
    found = [s.value for s in samples.get(name, []) if all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) <= 1, (name, labels, found)
    return found[0] if found else None


async def scrape_until(
    session: aiohttp.ClientSession, url: str, predicate: Callable[[Samples], bool], timeout_s: float
) -> Samples:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout_s
    while True:
        samples = await scrape(session, url)
        if predicate(samples) or loop.time() > end:
            return samples
        await asyncio.sleep(0.1)


@pytest.mark.timeout(120)
async def test_scrape_shows_quotes_connections_halts_equity_positions_and_fallbacks(tmp_path: Path) -> None:
    config = make_config(tmp_path, symbols=SYMBOLS)  # the shipped exits: a position stays open a while
    async with sim_server(seed=3, speed=10) as server, running_engine(
        config, server, metrics=MetricsAddress(port=0)
    ) as engine, aiohttp.ClientSession() as session:
        assert engine.metrics_server is not None and engine.metrics_server.url is not None
        url = engine.metrics_server.url
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/metrics", url), url
        assert await wait_until(lambda: not engine.halt_reasons(), 30), engine.halt_reasons()

        def healthy(s: Samples) -> bool:
            return value(s, "okxscalp_entries_running") == 1 and all(
                value(s, "okxscalp_quote_fresh", symbol=i, purpose=Purpose.GENERAL.value) == 1 for i in INST_IDS
            )

        s = await scrape_until(session, url, healthy, 30)
        assert healthy(s), (engine.halt_reasons(), s.get("okxscalp_quote_fresh"))
        budgets = {p: value(s, "okxscalp_quote_budget_seconds", purpose=p.value) for p in Purpose}
        assert budgets == {p: config.freshness.budget(p) for p in Purpose}
        for inst_id in INST_IDS:
            age = value(s, "okxscalp_quote_age_seconds", symbol=inst_id)
            assert age is not None and 0 <= age <= budgets[Purpose.GENERAL], (inst_id, age)
            for purpose in Purpose:  # one series per symbol and purpose, 0 or 1
                assert value(s, "okxscalp_quote_fresh", symbol=inst_id, purpose=purpose.value) in (0, 1)
        for name in CONNECTIONS:
            assert value(s, "okxscalp_connection_state", connection=name, state="up") == 1, name
            assert sum(x.value for x in s["okxscalp_connection_state"] if x.labels["connection"] == name) == 1
            assert value(s, "okxscalp_connection_reconnects_total", connection=name) == 0
            assert value(s, "okxscalp_connection_breaker_open", connection=name) == 0
        assert {x.labels["kind"] for x in s["okxscalp_halt"]} == {h.value for h in Halt}
        assert all(x.value == 0 for x in s["okxscalp_halt"])
        assert "okxscalp_halt_reason" not in s
        assert value(s, "okxscalp_engine_started") == 1 and value(s, "okxscalp_engine_info", mode="SIM") == 1
        equity = value(s, "okxscalp_equity_usdt")
        assert equity is not None and equity == pytest.approx(engine.equity)
        assert {x.labels["kind"] for x in s["okxscalp_fallback_events_total"]} == {k.value for k in FallbackKind}
        offset = value(s, "okxscalp_exchange_clock_offset_seconds")
        assert offset is not None and math.isfinite(offset)  # the simulator's clock runs `speed` times faster
        budget_use = s["okxscalp_rest_budget_use_ratio"]
        assert budget_use and all(0 <= x.value <= 1 for x in budget_use)
        assert value(s, "okxscalp_open_positions") == 0
        assert all(x.value == 0 for x in s["okxscalp_metrics_scrape_errors_total"])

        # The operator's pause is a halt with its reason; resuming clears it.
        engine.pause_entries()
        s = await scrape(session, url)
        assert value(s, "okxscalp_entries_running") == 0
        assert value(s, "okxscalp_halt", kind=Halt.OPERATOR_PAUSE.value) == 1
        assert value(s, "okxscalp_halt_reason", kind="operator_pause", symbol="", reason="paused by operator") == 1
        engine.resume_entries()
        s = await scrape_until(session, url, lambda s: value(s, "okxscalp_halt", kind=Halt.OPERATOR_PAUSE.value) == 0, 10)
        assert value(s, "okxscalp_halt", kind=Halt.OPERATOR_PAUSE.value) == 0

        position = await open_position(engine, INST_IDS[0], Side.BUY)
        s = await scrape(session, url)
        assert value(s, "okxscalp_open_positions") == 1
        assert value(s, "okxscalp_position_size_contracts", symbol=INST_IDS[0], side="long") == position.size
        assert value(s, "okxscalp_position_unrealised_pnl_usdt", symbol=INST_IDS[0], side="long") is not None

        summary = engine.snapshot().trades_summary
        assert summary is not None and summary.day_pnl is not None
        assert value(s, "okxscalp_day_pnl_usdt") == summary.day_pnl
        assert value(s, "okxscalp_daily_loss_limit_usdt") == summary.daily_loss_limit
        equity_age = value(s, "okxscalp_equity_age_seconds")
        assert equity_age is not None and equity_age >= 0
        assert sum(x.value for x in s["okxscalp_orders"]) >= 1  # the entry, its stops

        # The position's symbol stalls: the watchdog's lag events and the exit reads' refusals and
        # REST fallbacks are counted (every occurrence, also those the bus folded into one event).
        kinds = (FallbackKind.LAGGING, FallbackKind.STALE_REFUSED, FallbackKind.REST_FALLBACK)

        def counts(s: Samples) -> dict[FallbackKind, float]:
            return {k: value(s, "okxscalp_fallback_events_total", kind=k.value) or 0.0 for k in kinds}

        before = counts(s)
        server.faults.stall(4.0, inst_id=INST_IDS[0])

        def risen(s: Samples) -> bool:
            now = counts(s)
            return now[FallbackKind.LAGGING] > before[FallbackKind.LAGGING] and (
                now[FallbackKind.STALE_REFUSED] + now[FallbackKind.REST_FALLBACK]
                > before[FallbackKind.STALE_REFUSED] + before[FallbackKind.REST_FALLBACK]
            )

        s = await scrape_until(session, url, risen, 15)
        assert risen(s), (before, counts(s))
        assert value(s, "okxscalp_quote_fresh", symbol=INST_IDS[0], purpose=Purpose.EXIT.value) == 0
        assert (value(s, "okxscalp_quote_age_seconds", symbol=INST_IDS[0]) or 0) > budgets[Purpose.EXIT]


@pytest.mark.timeout(60)
async def test_a_part_that_cannot_be_read_is_counted_and_logged_and_the_rest_served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    config = make_config(tmp_path, symbols=SYMBOLS[:1])
    async with sim_server(seed=3, speed=10) as server, running_engine(
        config, server, metrics=MetricsAddress(port=0)
    ) as engine, aiohttp.ClientSession() as session:
        assert engine.metrics_server is not None and engine.metrics_server.url is not None
        url = engine.metrics_server.url

        def broken() -> None:
            raise RuntimeError("view under repair")

        monkeypatch.setattr(engine, "snapshot", broken)
        with caplog.at_level(logging.ERROR, logger="okxscalp.metrics.collector"):
            s = await scrape(session, url)
            s = await scrape(session, url)
        assert value(s, "okxscalp_metrics_scrape_errors_total", part="snapshot") == 2
        assert value(s, "okxscalp_metrics_scrape_errors_total", part="halts") == 0
        assert value(s, "okxscalp_engine_started") == 1 and "okxscalp_halt" in s  # read without the snapshot
        assert "okxscalp_equity_usdt" not in s and "okxscalp_quote_fresh" not in s  # the snapshot's parts
        lines = [r for r in caplog.records if "metrics part unreadable" in r.getMessage()]
        assert len(lines) == 2 and "view under repair" in lines[0].getMessage()
        assert lines[0].exc_info is not None and lines[1].exc_info is None  # the traceback once
        monkeypatch.undo()
        s = await scrape(session, url)
        assert value(s, "okxscalp_equity_usdt") is not None


@pytest.mark.timeout(60)
async def test_the_console_runs_the_metrics_server_on_its_own_loop(tmp_path: Path) -> None:
    from okxscalp.tui.app import ConsoleApp

    config = make_config(tmp_path, symbols=SYMBOLS[:1])
    async with sim_server(seed=3, speed=10) as server:
        engine = Engine.for_sim(config, server, metrics=MetricsAddress(port=0))
        app = ConsoleApp(engine, refresh_hz=10)
        async with app.run_test(size=(120, 40)), aiohttp.ClientSession() as session:
            assert await wait_until(lambda: engine.metrics_server is not None and engine.metrics_server.url is not None, 20)
            assert engine.metrics_server is not None and engine.metrics_server.url is not None
            url = engine.metrics_server.url

            def up(s: Samples) -> bool:
                return value(s, "okxscalp_engine_started") == 1 and all(
                    value(s, "okxscalp_connection_state", connection=name, state="up") == 1 for name in CONNECTIONS
                )

            s = await scrape_until(session, url, up, 30)
            assert up(s), engine.halt_reasons()
            await app.stop_engine()
        with pytest.raises(aiohttp.ClientConnectionError):  # stopped with the engine
            async with aiohttp.ClientSession() as session:
                await scrape(session, url)


@pytest.mark.timeout(60)
async def test_a_metrics_port_in_use_stops_start_up_with_the_reason(tmp_path: Path) -> None:
    config = make_config(tmp_path, symbols=SYMBOLS[:1])
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        async with sim_server(seed=3, speed=10) as server:
            engine = Engine.for_sim(config, server, metrics=MetricsAddress(port=port))
            with pytest.raises(EngineStartError, match=f"cannot serve metrics on 127.0.0.1:{port}"):
                await engine.run()
            assert engine.ended is not None and engine.ended.startswith("failed")


@pytest.mark.timeout(90)
@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
async def test_headless_cli_serves_metrics_and_stops_cleanly(tmp_path: Path, stop_signal: signal.Signals) -> None:
    make_config(tmp_path, symbols=SYMBOLS[:1])
    log = tmp_path / "run.log"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "okxscalp", "--headless", "--exchange", "sim", "--config", str(tmp_path / "config.yaml"),
        "--journal", str(tmp_path / "journal.sqlite"), "--speed", "5", "--metrics-port", "0",
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=log.open("w"),
    )
    try:
        pattern = re.compile(r"metrics serving url=(http://127\.0\.0\.1:\d+/metrics)")
        assert await wait_until(lambda: pattern.search(log.read_text()) is not None, 30), log.read_text()[-3000:]
        match = pattern.search(log.read_text())
        assert match is not None
        async with aiohttp.ClientSession() as session:

            def up(s: Samples) -> bool:
                return value(s, "okxscalp_engine_started") == 1 and all(
                    value(s, "okxscalp_connection_state", connection=name, state="up") == 1 for name in CONNECTIONS
                )

            s = await scrape_until(session, match.group(1), up, 30)
        assert up(s), log.read_text()[-3000:]
        assert value(s, "okxscalp_equity_usdt") is not None
    finally:
        proc.send_signal(stop_signal)
        try:
            await asyncio.wait_for(proc.wait(), 20)
        except TimeoutError:
            proc.kill()
            await proc.wait()
    text = log.read_text()
    assert proc.returncode == 0, text[-3000:]
    assert "metrics stopped" in text and "Traceback" not in text, text[-3000:]
