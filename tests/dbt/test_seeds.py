"""The dbt seed of MCC groups is the API's table of MCC groups, code for code."""

from __future__ import annotations

import csv
from pathlib import Path

from api.cards.controls import MCC_GROUPS

SEED = Path(__file__).resolve().parents[2] / "dbt" / "seeds" / "mcc_groups.csv"


def test_mcc_group_seed_matches_the_api() -> None:
    with SEED.open() as handle:
        seeded = {(row["mcc"], row["mcc_group"]) for row in csv.DictReader(handle)}
    expected = {(f"{code:04d}", group) for group, codes in MCC_GROUPS.items() for code in codes}
    assert seeded == expected
