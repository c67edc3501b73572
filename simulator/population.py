"""Who the simulated customers are: incomes, ages, housing, habits. Deterministic per seed."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date, timedelta

FIRST_NAMES = (
    "Ada Alan Grace Linus Margaret Ken Barbara Dennis Frances John Radia Tim Hedy Claude Edsger "
    "Katherine Donald Shafi Leslie Niklaus Sophie Guido Yukihiro Anders Bjarne Jean Rosalind Alonzo"
).split()
LAST_NAMES = (
    "Lovelace Turing Hopper Torvalds Hamilton Thompson Liskov Ritchie Allen McCarthy Perlman "
    "Berners-Lee Lamarr Shannon Dijkstra Johnson Knuth Goldwasser Lamport Wirth Wilson Rossum "
    "Matsumoto Hejlsberg Stroustrup Sammet Franklin Church"
).split()

PAYER_TYPES = ("full", "minimum", "partial", "misser")
PAYER_WEIGHTS = (0.35, 0.2, 0.28, 0.17)
REQUESTED_LIMITS = (None, 1_000_00, 2_500_00, 5_000_00, 10_000_00, 15_000_00)


@dataclass(frozen=True)
class Customer:
    index: int
    email: str
    full_name: str
    password: str
    date_of_birth: date
    annual_income: int
    monthly_housing_payment: int
    employment_status: str
    requested_credit_limit: int | None
    appetite: float  # multiplies every ticket
    activity: float  # multiplies purchase frequency
    payer: str
    autopay: bool
    joins_on_day: int
    subscriptions: tuple[int, ...]  # indexes into SUBSCRIPTION_MERCHANTS


def customer_rng(seed: int, index: int, *salt: object) -> random.Random:
    return random.Random(":".join(str(part) for part in (seed, index, *salt)))


def make_customer(
    seed: int, index: int, *, start: date, onboarding_days: int, subscription_count: int
) -> Customer:
    rng = customer_rng(seed, index, "profile")
    age = min(85, max(18, int(18 + rng.betavariate(2.0, 3.2) * 67)))
    birth = start - timedelta(days=age * 365 + rng.randint(0, 364))
    if age < 23 and rng.random() < 0.5:
        employment = "student"
    elif age >= 66 and rng.random() < 0.7:
        employment = "retired"
    else:
        employment = rng.choices(("employed", "self_employed", "unemployed"), (0.82, 0.12, 0.06))[0]
    # Log-normal incomes around a $52,000 median; students and the unemployed earn less.
    income = 52_000_00 * math.exp(rng.gauss(0, 0.6))
    if employment in ("student", "unemployed"):
        income *= 0.35
    if employment == "retired":
        income *= 0.7
    income_cents = round(income / 100) * 100 if rng.random() > 0.01 else 0
    housing_share = min(0.65, max(0.04, rng.gauss(0.27, 0.09)))
    housing = int(income_cents / 12 * housing_share) // 100 * 100
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    return Customer(
        index=index,
        email=f"sim{seed}.{index}@example.com",
        full_name=f"{first} {last}",
        password=f"sim-password-{seed}-{index}",
        date_of_birth=birth,
        annual_income=income_cents,
        monthly_housing_payment=housing,
        employment_status=employment,
        requested_credit_limit=rng.choice(REQUESTED_LIMITS),
        # Richer customers buy dearer things, but far less than in proportion.
        appetite=math.exp(rng.gauss(0, 0.3)) * max(0.4, income_cents / 52_000_00) ** 0.4,
        activity=math.exp(rng.gauss(0, 0.45)),
        payer=rng.choices(PAYER_TYPES, PAYER_WEIGHTS)[0],
        autopay=rng.random() < 0.06,
        joins_on_day=0 if onboarding_days <= 1 else rng.randrange(onboarding_days),
        subscriptions=tuple(
            sorted(rng.sample(range(subscription_count), k=rng.randint(0, min(3, subscription_count))))
        ),
    )
