"""The vocabulary of OKX's trading rules shared by the account modules: position modes, order
types, rejection codes and messages, and parsing of request parameters (reference sections 6, 7)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation, localcontext

from okxscalp.okx import constants as k

LONG_SHORT = "long_short_mode"
NET = "net_mode"
ORDER_TYPES = frozenset({"market", "limit", "post_only", "ioc", "fok", "optimal_limit_ioc"})
PRICED_TYPES = frozenset({"limit", "post_only", "ioc", "fok"})
ORD_ID_BASE = 2_900_000_000_000_000_000
ALGO_ID_BASE = 3_370_000_000_000_000_000

MSG_PLACED = "Order placed"
MSG_MARGIN = "Order failed. Insufficient USDT margin in account"
MSG_NO_POSITION = "Order failed because you don't have any positions in this direction for this contract to reduce or close."
MSG_CANCEL_FAILED = "Order cancellation failed as the order has been filled, canceled or does not exist"
MSG_AMEND_FAILED = "Order modification failed as the order has been filled, canceled or does not exist"
MSG_POST_ONLY = "POST_ONLY would take liquidity"
MSG_IOC = "IOC order remainder canceled"
MSG_FOK = "FOK order not fully filled"
MSG_PX_LIMIT = "price beyond the price limit"
CODE_POSITION_NOT_EXIST = "51023"
CODE_ALGO_CANCEL_FAILED = "51402"


class OrderProblem(Exception):
    """A per-order rejection: becomes the item's sCode/sMsg."""

    def __init__(self, code: str, msg: str) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg


def parse_flag(params: dict, key: str) -> bool:
    """An OKX boolean parameter: JSON bool or "true"/"false"; absent = False."""
    value = params.get(key)
    if isinstance(value, bool):
        return value
    if value in (None, "", "false", "False", "0"):
        return False
    if value in ("true", "True", "1"):
        return True
    raise OrderProblem(k.CODE_PARAM_ERROR, f"Parameter {key} error")


def on_grid(text: str, step: str) -> bool:
    """Whether `text` is a whole multiple of `step`. Beyond the default 28 digits (sz=1e+26 on a
    0.01 grid) Decimal cannot divide: such a value counts as off the grid, so it is refused, not raised."""
    with localcontext() as ctx:
        ctx.prec = 64
        try:
            return Decimal(text) % Decimal(step) == 0
        except InvalidOperation:
            return False


def parse_number(params: dict, key: str, *, required: bool = True) -> tuple[float, str] | None:
    raw = params.get(key)
    if raw in (None, ""):
        if required:
            raise OrderProblem(k.CODE_PARAM_ERROR, f"Parameter {key} error")
        return None
    text = str(raw)
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise OrderProblem(k.CODE_PARAM_ERROR, f"Parameter {key} error") from None
    if not value.is_finite():
        raise OrderProblem(k.CODE_PARAM_ERROR, f"Parameter {key} error")
    return float(value), text


_NESTED = frozenset({"attachAlgoOrds"})


def normalized(params: object) -> dict:
    """A request body with scalar values only (numbers as strings), so later checks compare
    strings; a list/dict where OKX expects a scalar is a 51000 for that parameter."""
    if not isinstance(params, dict):
        raise OrderProblem(k.CODE_PARAM_ERROR, "Parameter error: the body must be a JSON object")
    out: dict = {}
    for key, value in params.items():
        if value is None:
            continue
        if key in _NESTED:
            if not isinstance(value, list | str) or (isinstance(value, list) and not all(
                    isinstance(item, dict) for item in value)):
                raise OrderProblem(k.CODE_PARAM_ERROR, f"Parameter {key} error")
            out[key] = [normalized(item) for item in value] if isinstance(value, list) else value
        elif isinstance(value, bool | str):
            out[key] = value
        elif isinstance(value, int | float):
            out[key] = str(value)
        else:
            raise OrderProblem(k.CODE_PARAM_ERROR, f"Parameter {key} error")
    return out
