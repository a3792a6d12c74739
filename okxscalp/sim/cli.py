"""`okxscalp sim`: run the simulator in the foreground; `okxscalp sim fault ...` / `okxscalp sim
counters` talk to a running one through its loopback control endpoint."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from okxscalp.config.schema import SimSettings

READY_LINE = "okx-sim listening on {url}"
URL_HELP = ("the simulator's REST URL, e.g. http://127.0.0.1:PORT (default: the simulator of the one "
            "okxscalp running on this host)")


def register(subparsers: argparse._SubParsersAction) -> None:
    defaults = SimSettings()
    parser = subparsers.add_parser(
        "sim",
        help="run the embedded OKX v5 simulator alone (REST + WebSocket on one port)",
        description="Run the OKX v5 simulator in the foreground until Ctrl-C / SIGTERM.",
    )
    parser.add_argument("--host", default=defaults.host, help=f"bind address (default {defaults.host})")
    parser.add_argument("--port", type=int, default=defaults.port, help="port (default 0 = a free port)")
    parser.add_argument("--seed", type=int, default=defaults.seed, help=f"market seed (default {defaults.seed})")
    parser.add_argument("--speed", type=float, default=defaults.speed, help="sim time per wall time (default 1)")
    parser.add_argument("--replay", default=None, help="replay recorded ticks/candles from FILE (okxscalp/sim/REPLAY.md)")
    parser.add_argument("--tick-interval", type=float, default=0.1, help="market step in sim seconds (default 0.1)")
    parser.add_argument("--api-key", default=defaults.api_key, help="accepted API key")
    parser.add_argument("--api-secret", default=defaults.api_secret, help="accepted API secret")
    parser.add_argument("--passphrase", default=defaults.passphrase, help="accepted passphrase")
    parser.add_argument(
        "--account-file", default=None, metavar="PATH",
        help="keep the paper account (balance, positions, orders, algos, fills) in PATH across restarts",
    )
    parser.add_argument(
        "--fresh-account", action="store_true",
        help="with --account-file: start a new paper account (the old file is kept as PATH.<time>.bak)",
    )
    parser.set_defaults(handler=_run_handler)
    actions = parser.add_subparsers(title="control a running simulator", dest="sim_action", metavar="ACTION")

    fault = actions.add_parser(
        "fault",
        help="inject a fault into a running simulator",
        description="Kinds: stall, drop-connections, refuse-connections, delay-messages, send-malformed, "
        "rate-limit-storm, busy, reject-next-order, skew-time, notice-upgrade, "
        "drop-response-after-accept, timeout-after-accept, drop-ws-trade-replies, delay-ws-trade-replies, "
        "refuse-subscription, clear. "
        "drop-ws-trade-replies [--count N] [--op OP] / delay-ws-trade-replies --seconds S [--count N] [--op OP]: "
        "the next WebSocket trade ops (order, batch-orders, cancel-order, amend-order) are executed and "
        "their reply lost / sent late. "
        "refuse-subscription --channel orders [--code 60xxx --msg TEXT] --seconds S | --count N "
        "[--path P] [--terminate-existing]: subscribes to the channel answered with an error event, or "
        "(default code channel-conn-count-error) the ack then channel-conn-count-error.",
    )
    fault.add_argument("kind", help="fault kind (see above)")
    fault.add_argument("--url", help=URL_HELP)
    fault.add_argument("--seconds", type=float, help="duration (stall, refuse, delay, storm, busy, hold)")
    fault.add_argument("--channel", help="stall: only this channel; refuse-subscription: the channel")
    fault.add_argument("--inst-id", help="stall: only this instrument")
    fault.add_argument("--path", help="WS path (/ws/v5/public ...) for drop/delay/malformed/notice/refuse-subscription")
    fault.add_argument("--fraction", type=float, help="drop-connections: share of connections to drop")
    fault.add_argument("--ms", type=float, help="delay-messages: delay per frame; skew-time: skew")
    fault.add_argument("--frame", help="send-malformed: truncated | wrong_types | unknown_channel | empty_data | not_json")
    fault.add_argument("--endpoint", help="REST path for storm / busy / *-after-accept, e.g. /api/v5/trade/order")
    fault.add_argument("--code", help="reject-next-order: sCode; refuse-subscription: 60xxx or channel-conn-count-error")
    fault.add_argument("--msg", help="reject-next-order: sMsg; refuse-subscription: the error event's msg")
    fault.add_argument("--count", type=int, help="reject-next-order / *-after-accept / *-ws-trade-replies / refuse-subscription: how many")
    fault.add_argument("--op", help="*-ws-trade-replies: only this WebSocket trade op (default every op)")
    fault.add_argument(
        "--terminate-existing", action="store_true", default=None,
        help="refuse-subscription (channel-conn-count-error): existing holders of the channel lose it too",
    )
    fault.set_defaults(handler=_fault_handler)

    market = actions.add_parser(
        "market",
        help="move a running simulator's market (move-price, force-regime)",
        description="move-price --inst-id X --px P: gap the market to P. force-regime --inst-id X --regime "
        "trending|choppy|ranging --seconds S [--direction 1|-1]: push the price process into a regime.",
    )
    market.add_argument("kind", choices=["move-price", "force-regime"])
    market.add_argument("--url", help=URL_HELP)
    market.add_argument("--inst-id", required=True, help="instrument, e.g. XRP-USDT-SWAP")
    market.add_argument("--px", type=float, help="move-price: the new price")
    market.add_argument("--regime", help="force-regime: trending | choppy | ranging")
    market.add_argument("--seconds", type=float, help="force-regime: sim seconds")
    market.add_argument("--direction", type=int, choices=[1, -1], help="force-regime: trend sign")
    market.set_defaults(handler=_market_handler)

    counters = actions.add_parser("counters", help="print a running simulator's counters as JSON")
    counters.add_argument("--url", help=URL_HELP)
    counters.set_defaults(handler=_counters_handler)


def fault_request(args: argparse.Namespace) -> dict[str, Any]:
    """The control-endpoint body for `okxscalp sim fault KIND ...` (only the options given)."""
    kind = args.kind.replace("-", "_")
    ms: float | int | None = args.ms
    if kind == "skew_time" and ms is not None:
        ms = int(ms)
    given = {
        "seconds": args.seconds, "channel": args.channel, "inst_id": args.inst_id, "path": args.path,
        "fraction": args.fraction, "ms": ms, "frame": args.frame, "endpoint_path": args.endpoint,
        "code": args.code, "msg": args.msg, "count": args.count,
        "terminate_existing": args.terminate_existing, "op": args.op,
    }
    return {"kind": kind, **{k: v for k, v in given.items() if v is not None}}


def _run_handler(args: argparse.Namespace) -> int:
    import asyncio

    return asyncio.run(_serve_forever(args))


async def _serve_forever(args: argparse.Namespace) -> int:
    """Start, print the ready line (flushed: scripts wait for it), run until SIGINT/SIGTERM."""
    import asyncio
    import signal

    from okxscalp.okx.auth import Credentials
    from okxscalp.sim.persist import AccountFileError
    from okxscalp.sim.server import SimServer

    if args.fresh_account and not args.account_file:
        print("okxscalp sim: --fresh-account needs --account-file", file=sys.stderr)
        return 2
    try:
        server = SimServer(
            host=args.host, port=args.port, seed=args.seed, speed=args.speed,
            replay_path=args.replay, tick_interval_s=args.tick_interval,
            credentials=Credentials(args.api_key, args.api_secret, args.passphrase),
            account_file=args.account_file, fresh_account=args.fresh_account,
        )
        await server.start()
    except (ValueError, OSError, AccountFileError) as exc:  # bad speed / replay / account file, port in use
        print(f"okxscalp sim: {exc}", file=sys.stderr)
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        print(READY_LINE.format(url=server.rest_url), flush=True)
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await server.stop()
    return 0


def _post_json(url: str, body: dict[str, Any]) -> tuple[int, Any]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def sim_url(args: argparse.Namespace) -> str | None:
    """`--url`, else the simulator of the one okxscalp running on this host (said on stderr);
    None (after printing what to do) when there is none or more than one."""
    if args.url:
        return str(args.url)
    from okxscalp.preflight import state_dir
    from okxscalp.sim.discovery import SimNotFound, find_sim_url

    try:
        record = find_sim_url(state_dir())
    except SimNotFound as exc:
        print(f"okxscalp sim: {exc}", file=sys.stderr)
        return None
    print(f"using the simulator of okxscalp pid {record.pid} (journal {record.journal}): {record.url}",
          file=sys.stderr)
    return record.url


def _fault_handler(args: argparse.Namespace) -> int:
    from okxscalp.sim.control import CONTROL_FAULT_PATH

    url = sim_url(args)
    if url is None:
        return 2
    status, reply = _post_json(url.rstrip("/") + CONTROL_FAULT_PATH, fault_request(args))
    print(json.dumps(reply))
    if status != 200:
        print(f"fault refused (HTTP {status}): {reply.get('error', reply)}", file=sys.stderr)
        return 1
    return 0


def market_request(args: argparse.Namespace) -> dict[str, Any]:
    """The control-endpoint body for `okxscalp sim market KIND ...`."""
    kind = args.kind.replace("-", "_")
    if kind == "move_price":
        return {"kind": kind, "inst_id": args.inst_id, "px": args.px}
    body = {"kind": kind, "inst_id": args.inst_id, "regime": args.regime, "duration_s": args.seconds}
    if args.direction is not None:
        body["direction"] = args.direction
    return body


def _market_handler(args: argparse.Namespace) -> int:
    from okxscalp.sim.control import CONTROL_MARKET_PATH

    url = sim_url(args)
    if url is None:
        return 2
    status, reply = _post_json(url.rstrip("/") + CONTROL_MARKET_PATH, market_request(args))
    print(json.dumps(reply))
    if status != 200:
        print(f"market hook refused (HTTP {status}): {reply.get('error', reply)}", file=sys.stderr)
        return 1
    return 0


def _counters_handler(args: argparse.Namespace) -> int:
    import urllib.request

    from okxscalp.sim.control import CONTROL_COUNTERS_PATH

    url = sim_url(args)
    if url is None:
        return 2
    with urllib.request.urlopen(url.rstrip("/") + CONTROL_COUNTERS_PATH, timeout=10) as reply:
        print(json.dumps(json.loads(reply.read()), indent=2, sort_keys=True))
    return 0
