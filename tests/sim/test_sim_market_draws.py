"""SymbolMarket.step inlines two library draws for speed (rng.expovariate(1.0) and rng.randrange(3)).
The inlined forms must consume the same random numbers and give the same values as the library
calls, or the same seed would no longer make the same market."""

from __future__ import annotations

import math
import random


def test_inlined_expovariate_is_the_librarys() -> None:
    lib, inlined = random.Random(11), random.Random(11)
    for _ in range(20_000):
        assert -math.log(1.0 - inlined.random()) == lib.expovariate(1.0)
    assert lib.random() == inlined.random()  # the streams are in step


def test_inlined_randrange_3_is_the_librarys() -> None:
    lib, inlined = random.Random(12), random.Random(12)
    for _ in range(20_000):
        count = inlined.getrandbits(2)
        while count >= 3:
            count = inlined.getrandbits(2)
        assert count == lib.randrange(3)
    assert lib.random() == inlined.random()
