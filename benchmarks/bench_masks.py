"""Eligibility masks for a nightly batch: `batch_masks` over 10,000 debtors x 8 arms with
0-3 contacts each in the past week (and, for back-dated decisions, some after it), under
the default caps (1 contact a day across channels, 7 calls in 7 days, 2 in Massachusetts),
against the same pass without caps (the anchor, measured in the same run). Caps count
contacts on both sides of the send time (bandit/caps.py).

    .venv/bin/python benchmarks/bench_masks.py [--debtors 10000] [--runs 7]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import UTC, datetime, timedelta

from bandit.eligibility import ArmCatalog, Cap, Contact, ContactRules, Debtor, batch_masks

NOW = datetime(2026, 3, 3, 15, tzinfo=UTC)
CHANNELS = ("email", "sms", "letter", "voice")
DEFAULT_CAPS = (Cap("*", 1, 1.0), Cap("voice", 7, 7.0), Cap("voice", 2, 7.0, jurisdiction="MA"))


def debtors(count: int, rnd: random.Random) -> list[Debtor]:
    def contact() -> Contact:
        hours = rnd.uniform(-24, 24 * 7)  # a few after the send time: back-dated decisions
        return Contact(NOW - timedelta(hours=hours), rnd.choice(CHANNELS), "t1")

    return [
        Debtor(
            frozenset(CHANNELS),
            "America/New_York",
            "en",
            jurisdiction=rnd.choice(["NY", "MA"]),
            history=tuple(contact() for _ in range(rnd.randint(0, 3))),
        )
        for _ in range(count)
    ]


def median_seconds(catalog: ArmCatalog, rules: ContactRules, who: list[Debtor], runs: int) -> float:
    took = []
    for _ in range(runs):
        started = time.perf_counter()
        batch_masks(catalog, rules, who, NOW)
        took.append(time.perf_counter() - started)
    return statistics.median(took)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--debtors", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    catalog = ArmCatalog(
        tuple(f"t{i}" for i in range(8)),
        CHANNELS * 2,
        (False,) * 8,
        (True,) * 8,
        (frozenset({"en"}),) * 8,
    )
    who = debtors(args.debtors, random.Random(1))
    anchor = median_seconds(catalog, ContactRules(caps=()), who, args.runs)
    capped = median_seconds(catalog, ContactRules(caps=DEFAULT_CAPS), who, args.runs)
    print(
        f"batch_masks, {args.debtors:,} debtors x 8 arms, median of {args.runs}: "
        f"no caps {anchor * 1000:.0f} ms, default caps {capped * 1000:.0f} ms "
        f"({capped / anchor:.2f}x)"
    )


if __name__ == "__main__":
    main()
