"""Query parameters shared by the simulator's list endpoints (orders-history, fills, trade-fee):
instrument type, instrument selection, id cursors and page size, validated like OKX (51000
"Parameter <name> error", HTTP 400, on a malformed value).

Sources: the request-parameter tables of docs order-book-trading-trade-get-order-history-last-7-days,
...-get-transaction-details-last-3-months and trading-account-rest-api-get-fee-rates (instType
values SPOT MARGIN SWAP FUTURES OPTION EVENTS; instFamily "Applicable to FUTURES/SWAP/OPTION";
after/before are ids; "limit: The maximum is 100; The default is 100").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from okxscalp.okx.constants import CODE_PARAM_ERROR
from okxscalp.sim.events import SimApiError

REST_INST_TYPES = frozenset({"SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION", "EVENTS"})
SIM_INST_TYPE = "SWAP"  # every simulated instrument is a USDT perpetual swap

Params = Mapping[str, Any]


def param_error(name: str) -> SimApiError:
    return SimApiError(CODE_PARAM_ERROR, f"Parameter {name} error")


def wants_swaps(params: Params, *, required: bool) -> bool:
    """Whether the request's `instType` selects the simulated instruments. A missing required one
    or an unknown one is 51000; another documented type selects nothing (an empty answer)."""
    inst_type = params.get("instType")
    if inst_type is None:
        if required:
            raise param_error("instType")
        return True
    if inst_type not in REST_INST_TYPES:
        raise param_error("instType")
    return inst_type == SIM_INST_TYPE


def selected_inst_ids(params: Params, families: Mapping[str, str]) -> frozenset[str] | None:
    """The instruments `instId` and `instFamily` (or its old name `uly`) select, None for all.
    `families` maps each simulated instrument to its family (BTC-USDT-SWAP -> BTC-USDT)."""
    selected: frozenset[str] | None = None
    inst_id = params.get("instId")
    if inst_id is not None:
        selected = frozenset({str(inst_id)})
    family = params.get("instFamily", params.get("uly"))
    if family is not None:
        of_family = frozenset(i for i, f in families.items() if f == family)
        selected = of_family if selected is None else selected & of_family
    return selected


def id_param(params: Params, name: str) -> int | None:
    """An id cursor (`after`/`before`: an ordId or billId) or a ms timestamp (`begin`/`end`)."""
    value = params.get(name)
    if value is None:
        return None
    text = str(value)
    if not text.isdigit():
        raise param_error(name)
    return int(text)


def limit_param(params: Params, maximum: int) -> int:
    """`limit`: default and cap `maximum`; not a positive integer is 51000."""
    value = params.get("limit")
    if value is None:
        return maximum
    text = str(value)
    if not text.isdigit() or int(text) < 1:
        raise param_error("limit")
    return min(int(text), maximum)
