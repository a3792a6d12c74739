"""Chaos / soak run (issue 7, SPEC 3.7; issue 10): the headless engine as a subprocess against the
simulator at a high speed factor, faults on a seeded schedule (connection drops, symbol and channel
stalls, delayed messages, malformed frames, 429 storms, 50013 spells, rejected orders, server time
skew), `kill -9` at chosen moments (between a fill and its snapshot write, with an entry in flight,
during a flatten, right after a fill, at random) each followed by a restart; and faults of the
engine's own machinery: a delivery delay longer than the delay estimator's window, a large clock
skew, a balance outage across a restart, and between kills a full journal disk, a refused private
subscription, a fills outage at a close, cancels failing during a flatten, the stop list failing
during a reconcile. Then the audits (okxscalp/soak/audits.py), one line each in the summary.

    python3 bench/soak.py                         # 12 min, 20 kills, 100 drops
    python3 bench/soak.py --minutes 3 --kills 5 --drops 20 --seed 3
    python3 bench/soak.py --quick                 # 3 min, 6 kills, 25 drops
    python3 bench/soak.py --no-machinery          # exchange faults and kills only

Prints the summary table (markdown) and, last, `RESULT {json}`; exits 1 if any audit failed. The work
dir keeps the journal, one log per engine run and soak-evidence.json (the machinery faults, each
bite and its verdict, every order arrival, the simulator's positions over time).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from okxscalp.soak.audits import percentile
from okxscalp.soak.scenario import SoakSettings, run_soak
from okxscalp.soak.summary import kill_lines, render


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=12.0, help="planned wall time of the fault schedule")
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--drops", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--speed", type=float, default=60.0, help="simulator speed factor")
    parser.add_argument("--workdir", type=Path, default=None, help="keep journal and logs here (default: a temp dir)")
    parser.add_argument("--quick", action="store_true", help="3 min, 6 kills, 25 drops")
    parser.add_argument("--no-machinery", action="store_true", help="leave out the engine-machinery faults")
    args = parser.parse_args()
    if args.quick:
        args.minutes, args.kills, args.drops = 3.0, 6, 25
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = SoakSettings(minutes=args.minutes, kills=args.kills, drops=args.drops, seed=args.seed,
                            speed=args.speed, workdir=args.workdir, machinery=not args.no_machinery)
    result = asyncio.run(run_soak(settings))
    print(kill_lines(result))
    print()
    print(render(result))
    got = [x for x in result.reconnects if x is not None]
    figures = {
        "passed": result.passed,
        "audits_failed": [a.name for a in result.audits if not a.passed],
        "wall_min": round(result.wall_s / 60, 2),
        "kills": len(result.kills),
        "drops": result.drops_done,
        "reconnect_median_s": round(percentile(got, 50), 4) if got else None,
        "reconnect_p99_s": round(percentile(got, 99), 4) if got else None,
        "machinery_bites_failed": sum(1 for _, ok, _ in result.bites if ok is False),
        **result.figures,
    }
    print("RESULT " + json.dumps(figures))
    return 0 if result.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
