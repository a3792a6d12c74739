"""OK-ACCESS-TIMESTAMP parsing (sim/rest_auth.py) agrees with datetime.strptime, which it replaced
on the hot path (every private request): the same epoch seconds for every valid timestamp, None
for the same malformed or impossible ones."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from okxscalp.sim.rest_auth import _ISO_TS, parse_iso_timestamp


def _by_strptime(text: str) -> float | None:
    if not _ISO_TS.match(text):
        return None
    try:
        moment = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ" if "." in text else "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC).timestamp()


def test_the_same_answer_as_strptime_for_valid_malformed_and_impossible_timestamps() -> None:
    cases = [
        "2020-12-08T09:08:57.715Z", "2020-12-08T09:08:57Z", "2020-12-08T09:08:57.1Z", "2020-12-08T09:08:57.000001Z",
        "2024-02-29T23:59:59.999999Z", "2023-02-29T00:00:00Z", "2020-02-30T00:00:00Z", "2020-13-01T00:00:00Z",
        "2020-00-08T23:59:59Z", "2020-12-00T23:59:59Z", "2020-12-08T24:00:00Z", "2020-12-08T23:60:00Z",
        "2020-12-08T23:59:60Z", "0000-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z", "2020-12-08 09:08:57Z",
        "2020-12-08T09:08:57.Z", "2020-12-08T09:08:57.1234567Z", "2020-12-08T09:08:57.715", "",
        "1969-12-31T23:59:59.999Z", "1900-01-01T00:00:00Z", "2020-12-08T09:08:57.715Z\n",
    ]
    rng = random.Random(3)
    for _ in range(20_000):
        fields = (rng.choice([rng.randrange(0, 10_000), rng.randrange(1990, 2040)]), rng.randrange(0, 14),
                  rng.randrange(0, 33), rng.randrange(0, 26), rng.randrange(0, 62), rng.randrange(0, 63))
        fraction = rng.choice(["", "." + str(rng.randrange(10 ** rng.randrange(1, 7))).zfill(rng.randrange(1, 7))])
        cases.append("{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}".format(*fields) + fraction + "Z")
    assert [parse_iso_timestamp(c) for c in cases] == [_by_strptime(c) for c in cases]
    assert parse_iso_timestamp("2020-12-08T09:08:57.715Z") == 1607418537.715
