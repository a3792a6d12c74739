"""Junk in any command parameter gives an OKX error (an sCode item or SimApiError), never a crash."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from okxscalp.sim.events import SimApiError
from okxscalp.sim.exchange import SimExchange

pytestmark = pytest.mark.timeout(120)
BTC = "BTC-USDT-SWAP"

junk = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(),
                                                                                max_size=2),
    st.sampled_from(["", "0", "-1", "1e9", "nan", "inf", "0.01", "95000.0", "buy", "sell", "long", "short", "net",
                     "limit", "market", "post_only", "ioc", "cross", "isolated", BTC, "true", "false"]),
)
KEYS = ["instId", "tdMode", "side", "posSide", "ordType", "px", "sz", "clOrdId", "tag", "reduceOnly",
        "attachAlgoOrds", "ordId", "newSz", "newPx", "cxlOnFail", "reqId", "mgnMode", "autoCxl", "lever",
        "closeFraction", "slTriggerPx", "tpTriggerPx", "slOrdPx", "tpOrdPx", "algoClOrdId", "algoId"]
params = st.dictionaries(st.sampled_from(KEYS), junk, max_size=10)


@pytest.fixture(scope="module")
def ex() -> SimExchange:
    exchange = SimExchange(seed=1, start_wall_s=0.0, start_sim_ms=1_732_435_200_000, history_minutes=0,
                           inst_ids=[BTC])
    exchange.set_channel_interest("tickers", BTC, False)
    exchange.advance_steps(5)
    return exchange


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(command=st.sampled_from(["place_order", "cancel_order", "amend_order", "close_position", "set_leverage",
                                "place_algo_order"]), body=params)
def test_commands_answer_junk_with_okx_errors(ex, command, body):
    try:
        result = getattr(ex, command)(body)
    except SimApiError as err:
        assert err.code.isdigit() and err.msg
        return
    items = result if isinstance(result, list) else [result]
    for item in items:
        assert all(isinstance(v, str) for v in item.values())
    ex.advance_steps(1)
    ex.drain_events()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(junk, st.lists(st.one_of(params, junk), max_size=3)))
def test_cancel_algos_answers_junk_with_okx_errors(ex, body):
    try:
        items = ex.cancel_algos(body)
    except SimApiError as err:
        assert err.code == "51000"
        return
    assert all(item["sCode"] in ("0", "51402") for item in items)
