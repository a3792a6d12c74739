"""Leverage per symbol: resolved through the provider, set on the exchange, read back.

The chain is config → the lever of the symbol's open exchange position(s) → hard fail (the
account's leverage-info setting is never a source). An adoption from a position is an ADOPTED event
and shows in `explain`; it is re-resolved on every read-back, so once that position is gone a
symbol with no configured leverage halts again. Every value must lie in the instrument's range.

Before the first order of a symbol the resolved leverage is set on the exchange when it differs and
read back; every positions push and a periodic leverage-info read keep the exchange's actual value
fresh. Any problem (unresolved, out of range, disagreeing) halts entries for that symbol with the
full diagnostic (supervisor.py, Halt.LEVERAGE) until it is gone.
"""

from __future__ import annotations

import logging

from okxscalp.config import LeverageUnavailable, ParameterProvider
from okxscalp.config.provider import leverage_adoption
from okxscalp.engine.executor import LeverageState, leverage_mismatch
from okxscalp.engine.supervisor import EmitFn, EntrySupervisor, Halt
from okxscalp.logging_setup import kv
from okxscalp.market.events import FallbackKind
from okxscalp.okx.errors import OkxError
from okxscalp.okx.models import Instrument, LeverageInfo, Position, symbol_of
from okxscalp.okx.rest import RestClient

log = logging.getLogger(__name__)

READ_BACK_FAILURES_HALT = 3


ISOLATED = "isolated"
ISOLATED_POS_SIDES = ("long", "short")


def _agrees(infos: list[LeverageInfo], wanted: float, pos_side: str | None) -> bool:
    """Whether the exchange lists `wanted` for that side (any side when `pos_side` is None)."""
    levers = [i.lever for i in infos if pos_side is None or i.pos_side == pos_side]
    return bool(levers) and all(abs(lever - wanted) <= 1e-9 for lever in levers)


def exchange_lever(infos: list[LeverageInfo], wanted: float) -> float | None:
    """The exchange's leverage as one figure: `wanted` when every listed side agrees, else the first
    side that differs (so a long/short pair set apart by hand reads as a mismatch), None if none listed."""
    for info in infos:
        if abs(info.lever - wanted) > 1e-9:
            return info.lever
    return wanted if infos else None


class LeverageKeeper:
    def __init__(
        self, inst_ids: tuple[str, ...], provider: ParameterProvider, supervisor: EntrySupervisor, margin_mode: str
    ) -> None:
        self.provider = provider
        self.supervisor = supervisor
        self.margin_mode = margin_mode
        self.states: dict[str, LeverageState] = {i: LeverageState() for i in inst_ids}
        self.rest: RestClient | None = None
        self.instruments: dict[str, Instrument] = {}
        self.emit: EmitFn | None = None
        self.read_back_failures: dict[str, int] = {}

    def bind(self, rest: RestClient, instruments: dict[str, Instrument], emit: EmitFn) -> None:
        self.rest, self.instruments, self.emit = rest, instruments, emit

    def _publish(self, inst_id: str, state: LeverageState) -> None:
        if state.mismatch:
            was = self.supervisor.reason_of(Halt.LEVERAGE, inst_id)
            if was != state.mismatch:
                log.error("leverage %s", kv(inst=inst_id, problem=state.mismatch))
            self.supervisor.set(Halt.LEVERAGE, state.mismatch, inst_id)
        else:
            self.supervisor.clear(Halt.LEVERAGE, inst_id, "leverage agrees with the exchange")

    async def prepare(self, inst_id: str) -> None:
        """Before the first order of a symbol: resolve, set on the exchange if it differs, read back."""
        assert self.rest is not None
        state = self.states[inst_id]
        mode = self.margin_mode
        instrument = self.instruments.get(inst_id)
        was = state.resolution
        try:
            levers = [p.lever for p in await self.rest.positions(inst_id) if p.pos != 0 and p.inst_id == inst_id]
            state.resolution = self.provider.resolve_leverage(symbol_of(inst_id), levers or None, instrument=instrument)
            wanted = float(state.resolution.value)
            infos = await self.rest.leverage_info(inst_id, mode)
            # Isolated margin in long/short mode keeps one leverage per side and set-leverage needs
            # posSide (docs trading-account-rest-api-set-leverage); cross keeps one for the instrument.
            sides = ISOLATED_POS_SIDES if mode == ISOLATED else (None,)
            changed = False
            for side in sides:
                if not _agrees(infos, wanted, side):
                    await self.rest.set_leverage(inst_id, f"{wanted:g}", mode, side)
                    changed = True
            if changed:
                infos = await self.rest.leverage_info(inst_id, mode)
            state.exchange_lever = exchange_lever(infos, wanted)
            state.reported_by = "set-leverage/leverage-info"
            state.mismatch = leverage_mismatch(inst_id, state, instrument)
        except (LeverageUnavailable, OkxError) as exc:  # no entries for it until a later read-back resolves it
            state.resolution = None
            state.mismatch = f"{inst_id}: leverage unavailable: {exc}"
        self._publish(inst_id, state)
        adopted = leverage_adoption(state.resolution, inst_id) if state.resolution is not None else None
        if adopted and (was is None or was.value != state.resolution.value or not was.from_exchange) and self.emit is not None:
            self.emit(FallbackKind.ADOPTED, inst_id, adopted, state.resolution.source_path, "leverage")
        if not state.mismatch:
            log.info("leverage ok %s", kv(inst=inst_id, lever=state.exchange_lever, source=state.resolution.source_path))

    async def refresh(self) -> None:
        """Read every symbol's actual leverage back (leverage-info) and compare with the resolution;
        a symbol without a resolution, or with one adopted from a position, is resolved again."""
        assert self.rest is not None
        for inst_id, state in self.states.items():
            if state.resolution is None or state.resolution.from_exchange:
                await self.prepare(inst_id)
                continue
            try:
                infos = await self.rest.leverage_info(inst_id, self.margin_mode)
            except OkxError as exc:
                self._read_back_failed(inst_id, state, str(exc))
                continue
            if not infos:
                self._read_back_failed(inst_id, state, "the exchange listed no leverage")
                continue
            self.read_back_failures.pop(inst_id, None)
            state.exchange_lever, state.reported_by = exchange_lever(infos, float(state.resolution.value)), "leverage-info"
            state.mismatch = leverage_mismatch(inst_id, state, self.instruments.get(inst_id))
            self._publish(inst_id, state)

    def _read_back_failed(self, inst_id: str, state: LeverageState, why: str) -> None:
        """The last value stands for a pass or two; after READ_BACK_FAILURES_HALT passes in a row
        it is too old to vouch for the order's leverage: that symbol halts until one succeeds."""
        n = self.read_back_failures[inst_id] = self.read_back_failures.get(inst_id, 0) + 1
        log.warning("leverage read-back failed %s", kv(inst=inst_id, error=why, in_a_row=n))
        if n == 1 and self.emit is not None:
            self.emit(FallbackKind.SAFETY, inst_id, f"leverage read-back failed ({why}); retried every pass", "none", "leverage")
        if n >= READ_BACK_FAILURES_HALT:
            state.mismatch = f"{inst_id}: leverage not confirmed by the exchange for {n} read-backs in a row ({why})"
            self._publish(inst_id, state)

    def on_position(self, p: Position) -> None:
        state = self.states.get(p.inst_id)
        if state is not None and p.lever is not None and p.pos != 0:
            state.exchange_lever, state.reported_by = p.lever, "positions"

    def check_before_entry(self, inst_id: str) -> bool:
        """The exchange's actual lever vs the resolution, right before an entry is priced."""
        state = self.states[inst_id]
        state.mismatch = leverage_mismatch(inst_id, state, self.instruments.get(inst_id))
        self._publish(inst_id, state)
        return not state.mismatch
