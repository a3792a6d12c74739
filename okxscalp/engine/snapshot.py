"""The position snapshot: everything a position is managed with, fixed at entry.

Written to the journal durably right after the entry fill, before the engine does anything else;
read back on restart. The exit logic uses only this (SPEC §1 row 5): the entry regime, the TP/SL
prices and the parameters they came from, with the key path of every parameter. The market's
current regime never enters it after entry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, replace
from typing import Any, Protocol

from okxscalp.okx.models import PosSide, Regime

SNAPSHOT_VERSION = 1


class ResolutionLike(Protocol):
    """Anything with a value and the key path it came from (config's `Resolution` has these)."""

    @property
    def value(self) -> Any: ...

    @property
    def source_path(self) -> str: ...


@dataclass(frozen=True, slots=True)
class ResolvedParam:
    """A parameter value with its provenance, as kept in a snapshot."""

    name: str
    value: Any
    source_path: str

    @classmethod
    def of(cls, resolution: ResolutionLike, name: str | None = None) -> ResolvedParam:
        """Copy value and source path from a `Resolution` (or anything shaped like one)."""
        resolved_name = name if name is not None else getattr(resolution, "name", None)
        if not resolved_name:
            raise ValueError(f"parameter name needed for {resolution!r}")
        return cls(resolved_name, resolution.value, resolution.source_path)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "source_path": self.source_path}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ResolvedParam:
        return cls(d["name"], d["value"], d["source_path"])


@dataclass(frozen=True, slots=True)
class ExitParams:
    """The TP/SL parameters of one entry, each with its source. `mode` is "percent" or "atr".
    The clamps are percents of PRICE (see okxscalp.engine.exits)."""

    mode: ResolvedParam
    tp_percent: ResolvedParam
    sl_percent: ResolvedParam
    tp_atr_multiplier: ResolvedParam
    sl_atr_multiplier: ResolvedParam
    tp_min_percent: ResolvedParam
    tp_max_percent: ResolvedParam
    sl_min_percent: ResolvedParam
    sl_max_percent: ResolvedParam

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name).to_dict() for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ExitParams:
        return cls(**{f.name: ResolvedParam.from_dict(d[f.name]) for f in fields(cls)})

    @classmethod
    def from_resolutions(cls, mode: ResolutionLike, **params: ResolutionLike) -> ExitParams:
        """Build from config `Resolution`s: `ExitParams.from_resolutions(mode_res, tp_percent=...,
        sl_percent=..., tp_atr_multiplier=..., ...)` (every field required)."""
        missing = {f.name for f in fields(cls)} - {"mode"} - set(params)
        if missing:
            raise ValueError(f"exit parameters missing: {sorted(missing)}")
        return cls(
            mode=ResolvedParam.of(mode, "tp_sl_mode"),
            **{k: ResolvedParam.of(v, k) for k, v in params.items()},
        )


@dataclass(frozen=True, slots=True)
class PositionSnapshot:
    inst_id: str
    pos_side: PosSide  # long | short
    entry_regime: Regime
    entry_time: float  # epoch seconds of the entry fill
    entry_px: float  # the fill's avgPx, never a registry price
    size: float  # contracts filled at entry (the exchange stays the truth for the live size)
    tp_px: float
    sl_px: float
    exit_params: ExitParams
    atr_at_entry: float | None  # ATR of the last confirmed bar at entry (the atr-mode input); None if unknown
    tp_distance_percent: float  # |tp - entry| / entry * 100 after clamp and tick snap
    sl_distance_percent: float
    leverage: ResolvedParam
    entry_cl_ord_id: str
    entry_ord_id: str
    algo_ids: tuple[str, ...] = ()  # attached TP/SL algo ids (attachAlgoId / algoId)
    regime_inputs: dict[str, Any] = field(default_factory=dict)  # RegimeDecision.inputs() at entry
    signal_reason: str = ""
    version: int = SNAPSHOT_VERSION

    def __post_init__(self) -> None:
        if self.pos_side not in (PosSide.LONG, PosSide.SHORT):
            raise ValueError(f"snapshot pos_side must be long or short, got {self.pos_side!r}")
        ok = (
            self.sl_px < self.entry_px < self.tp_px
            if self.is_long
            else self.tp_px < self.entry_px < self.sl_px
        )
        if not ok:
            raise ValueError(
                f"{self.inst_id} {self.pos_side.value}: TP {self.tp_px} / SL {self.sl_px} are not on the "
                f"right sides of entry {self.entry_px}"
            )

    @property
    def is_long(self) -> bool:
        return self.pos_side is PosSide.LONG

    @property
    def key(self) -> tuple[str, str]:
        return (self.inst_id, self.pos_side.value)

    def with_size(self, size: float) -> PositionSnapshot:
        return replace(self, size=size)

    def with_algo_ids(self, algo_ids: tuple[str, ...]) -> PositionSnapshot:
        return replace(self, algo_ids=tuple(algo_ids))

    def with_levels(self, tp_px: float, sl_px: float) -> PositionSnapshot:
        """The same position with other TP/SL prices (distances from the same entry); validated."""
        return replace(
            self, tp_px=tp_px, sl_px=sl_px,
            tp_distance_percent=abs(tp_px - self.entry_px) / self.entry_px * 100,
            sl_distance_percent=abs(sl_px - self.entry_px) / self.entry_px * 100,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "inst_id": self.inst_id,
            "pos_side": self.pos_side.value,
            "entry_regime": self.entry_regime.value,
            "entry_time": self.entry_time,
            "entry_px": self.entry_px,
            "size": self.size,
            "tp_px": self.tp_px,
            "sl_px": self.sl_px,
            "exit_params": self.exit_params.to_dict(),
            "atr_at_entry": self.atr_at_entry,
            "tp_distance_percent": self.tp_distance_percent,
            "sl_distance_percent": self.sl_distance_percent,
            "leverage": self.leverage.to_dict(),
            "entry_cl_ord_id": self.entry_cl_ord_id,
            "entry_ord_id": self.entry_ord_id,
            "algo_ids": list(self.algo_ids),
            "regime_inputs": self.regime_inputs,
            "signal_reason": self.signal_reason,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, allow_nan=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PositionSnapshot:
        version = d.get("version")
        if version != SNAPSHOT_VERSION:
            raise ValueError(
                f"unsupported snapshot version {version!r} (this build reads {SNAPSHOT_VERSION})"
            )
        return cls(
            inst_id=d["inst_id"],
            pos_side=PosSide(d["pos_side"]),
            entry_regime=Regime(d["entry_regime"]),
            entry_time=float(d["entry_time"]),
            entry_px=float(d["entry_px"]),
            size=float(d["size"]),
            tp_px=float(d["tp_px"]),
            sl_px=float(d["sl_px"]),
            exit_params=ExitParams.from_dict(d["exit_params"]),
            atr_at_entry=None if d["atr_at_entry"] is None else float(d["atr_at_entry"]),
            tp_distance_percent=float(d["tp_distance_percent"]),
            sl_distance_percent=float(d["sl_distance_percent"]),
            leverage=ResolvedParam.from_dict(d["leverage"]),
            entry_cl_ord_id=d["entry_cl_ord_id"],
            entry_ord_id=d["entry_ord_id"],
            algo_ids=tuple(d["algo_ids"]),
            regime_inputs=dict(d["regime_inputs"]),
            signal_reason=d.get("signal_reason", ""),
            version=version,
        )

    @classmethod
    def from_json(cls, text: str) -> PositionSnapshot:
        return cls.from_dict(json.loads(text))
