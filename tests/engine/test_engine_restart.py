"""`kill -9` with open positions, then restart: every position comes back with the same snapshot,
its attached stop-loss stayed on the exchange meanwhile, and a position created behind the
engine's back is reported as an orphan and handled by the configured policy (protect).

The engine runs as a subprocess (`python -m okxscalp --headless --sim-url ...`) against a
SimServer in this test process, so the simulator outlives the engine."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import sys
from pathlib import Path

import pytest
from engine_helpers import make_config, sim_server, wait_until

SYMBOLS = ["XRP-USDT", "DOGE-USDT", "SOL-USDT", "ETH-USDT"]


def open_snapshots(journal: Path) -> dict[tuple[str, str], str]:
    if not journal.exists():
        return {}
    try:
        with sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=1) as conn:
            rows = conn.execute("SELECT inst_id, pos_side, snapshot_json FROM positions WHERE state = 'open'").fetchall()
    except sqlite3.Error:
        return {}
    return {(inst, side): snap for inst, side, snap in rows}


async def start_engine(args: list[str], log: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "okxscalp", "--headless", "--exchange", "sim", *args,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=log.open("w"),
    )


@pytest.mark.timeout(150)
async def test_kill_9_restart_restores_snapshots_and_handles_orphans(tmp_path: Path) -> None:
    make_config(tmp_path, symbols=SYMBOLS)  # the shipped exits (2-5 %): positions stay open for a while
    config_path, journal = tmp_path / "config.yaml", tmp_path / "journal.sqlite"
    async with sim_server(seed=7, speed=60) as server:
        sim = server.exchange
        args = ["--config", str(config_path), "--journal", str(journal), "--sim-url", server.rest_url]
        first = await start_engine(args, tmp_path / "run1.log")
        try:
            def protected_position() -> bool:
                snaps = open_snapshots(journal)
                on_exchange = {(p["instId"], p["posSide"]) for p in sim.positions_wire()}
                stops = {(a["instId"], a["posSide"]) for a in sim.algo_orders_pending() if a["slTriggerPx"]}
                return bool(snaps) and set(snaps) <= on_exchange and set(snaps) <= stops

            assert await wait_until(protected_position, 60, poll_s=0.2), (tmp_path / "run1.log").read_text()[-3000:]
        finally:
            first.send_signal(signal.SIGKILL)
            await first.wait()
        assert first.returncode == -signal.SIGKILL

        before = open_snapshots(journal)
        # Protection stayed on the exchange while the engine was down.
        await asyncio.sleep(0.5)
        stops = {(a["instId"], a["posSide"]): a for a in sim.algo_orders_pending() if a["slTriggerPx"]}
        still_open = {(p["instId"], p["posSide"]) for p in sim.positions_wire()}
        for key, snap_json in before.items():
            if key in still_open:
                assert float(stops[key]["slTriggerPx"]) == pytest.approx(json.loads(snap_json)["sl_px"])

        taken = {inst for inst, _ in still_open}
        orphan_inst = next(f"{s}-SWAP" for s in SYMBOLS if f"{s}-SWAP" not in taken)
        orphan = sim.open_position_directly(orphan_inst, "long", 1.0)
        orphan_avg = float(orphan["avgPx"])

        log2 = tmp_path / "run2.log"
        second = await start_engine(args, log2)
        try:
            assert await wait_until(lambda: "reconciled trigger=startup" in log2.read_text(), 30), log2.read_text()[-3000:]
            assert await wait_until(
                lambda: any(a["instId"] == orphan_inst and a["slTriggerPx"] for a in sim.algo_orders_pending()), 10
            ), log2.read_text()[-3000:]
            text = log2.read_text()
            assert f"ORPHAN position inst={orphan_inst}" in text
            adopted = len(before.keys() & still_open)
            assert f"reconciled trigger=startup adopted={adopted} orphans={orphan_inst}/long" in text
            orphan_stop = next(a for a in sim.algo_orders_pending() if a["instId"] == orphan_inst)
            assert orphan_stop["posSide"] == "long" and orphan_stop["side"] == "sell"
            assert float(orphan_stop["slTriggerPx"]) == pytest.approx(orphan_avg * 0.98, rel=1e-3)
            after = open_snapshots(journal)
            for key in before.keys() & still_open:
                assert after.get(key) == before[key]  # the same snapshot, byte for byte
            assert (orphan_inst, "long") not in after  # an orphan never gets a snapshot (no assumed regime)
        finally:
            second.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(second.wait(), 20)
            except TimeoutError:
                second.kill()
                await second.wait()
        assert second.returncode == 0, log2.read_text()[-3000:]
        # Positions stayed protected on the exchange after the clean stop.
        for key in still_open:
            assert key in {(a["instId"], a["posSide"]) for a in sim.algo_orders_pending() if a["slTriggerPx"]} or (
                key not in {(p["instId"], p["posSide"]) for p in sim.positions_wire()}
            )


@pytest.mark.timeout(60)
async def test_headless_operator_signals_flatten_and_resume(tmp_path: Path) -> None:
    make_config(tmp_path, symbols=["XRP-USDT"])
    config_path, journal = tmp_path / "config.yaml", tmp_path / "journal.sqlite"
    async with sim_server(seed=4, speed=5) as server:
        log = tmp_path / "run.log"
        proc = await start_engine(["--config", str(config_path), "--journal", str(journal), "--sim-url", server.rest_url], log)
        try:
            assert await wait_until(lambda: "entries open" in log.read_text(), 30), log.read_text()[-2000:]
            server.exchange.open_position_directly("XRP-USDT-SWAP", "short", 10.0)
            assert await wait_until(lambda: "ORPHAN position inst=XRP-USDT-SWAP" in log.read_text(), 10)
            proc.send_signal(signal.SIGUSR1)
            assert await wait_until(lambda: not server.exchange.positions_wire(), 10), log.read_text()[-2000:]
            assert await wait_until(lambda: "halted_by=\"flatten: halted until resumed\"" in log.read_text()
                                    or "flatten all: entries halted" in log.read_text(), 10)
            proc.send_signal(signal.SIGUSR2)
            assert await wait_until(lambda: "entries resumed by the operator" in log.read_text(), 10)
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(proc.wait(), 20)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        text = log.read_text()
        assert "operator signal=SIGUSR1 action=flatten" in text and "operator signal=SIGUSR2 action=resume" in text
        assert proc.returncode == 0, text[-2000:]
