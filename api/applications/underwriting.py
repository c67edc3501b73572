"""Explainable underwriting: the rules that turn an application into a decision.

Pure functions: no database, no HTTP, no clock (``today`` is one of the facts).
Every number the rules use is a named constant below, and every rule is one
commented block of :func:`decide`, so a reader can answer "why was this
application declined?" from this file alone.

The sandbox credit bureau
-------------------------
:func:`sandbox_credit_score` gives every applicant a score from 300 to 850,
deterministic from their identity: the SHA-256 of the normalised email (and
the normalised full name, when given) is read as twelve bytes whose sum is
bell-shaped (the Irwin-Hall distribution), centred on 705 with a spread of
about 85 points, so about 5 % of applicants score under 560 and about a
quarter 760 or more, much like a real bureau's population.

Tests and demos choose a score the way Stripe's test card numbers choose an
outcome: an email whose local part ends in ``+score<NNN>`` gets that score,
clamped to 300..850 (``ada+score780@example.com`` scores 780,
``bob+score999@example.com`` 850). Only in sandbox mode: underwriting takes its
score from the configured bureau (``api.applications.bureau``), and production
refuses this one.

The decision
------------
``decide(facts)`` gives ``approved`` (a limit and an APR, no reasons),
``declined`` or ``manual_review`` (one or more reason codes from
:data:`REASON_DESCRIPTIONS`, most important first, as an adverse-action notice
lists its principal reasons). In order:

1. Hard declines: under 18 (``underage``); no income (``insufficient_income``);
   a score under 560 (``low_credit_score``); housing over 50 % of monthly
   income (``high_debt_to_income``); a computed limit under $300
   (``insufficient_income``). Every applicable reason is listed.
2. Middle band, decided by an admin: a score of 560 to 679
   (``borderline_credit_score``), housing over 36 % up to 50 % of monthly
   income (``elevated_debt_to_income``).
3. Otherwise approved at the score tier's APR, with the limit of
   :func:`credit_limit_for`.

The contract's sandbox guarantee follows: a score of 760 or more, an annual
income of at least $60,000, housing at most 25 % of monthly income and an
adult applicant is approved (limit at most the requested one), and a score
under 560 is declined with ``low_credit_score``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date
from typing import Literal, get_args

from api.errors import Conflict, UnprocessableEntity

EmploymentStatus = Literal["employed", "self_employed", "unemployed", "retired", "student"]
EMPLOYMENT_STATUSES: tuple[str, ...] = get_args(EmploymentStatus)
DecisionStatus = Literal["approved", "declined", "manual_review"]

MIN_SCORE, MAX_SCORE = 300, 850
MIN_AGE_YEARS = 18

# Limits are offered in whole $100 steps, and never under $300: a smaller line
# costs more to service than it is worth to the customer.
LIMIT_STEP = 100_00
MIN_CREDIT_LIMIT = 300_00

# Debt-to-income, in basis points of monthly income. 36 % is the conventional
# "comfortable" housing-plus-debt ratio; above 50 % leaves too little to repay.
DTI_REVIEW_ABOVE_BPS = 3_600
DTI_DECLINE_ABOVE_BPS = 5_000
# Reported when there is no income to divide by (and as an upper bound, so the
# value always fits an integer column): 999.99 %.
DTI_CEILING_BPS = 99_999

# The share of annual income a limit may reach, by employment status. Students
# and the unemployed get half: their stated income is less likely to last
# (cf. the CARD Act's ability-to-pay rule, 12 CFR 1026.51).
INCOME_SHARE_BPS: dict[str, int] = {
    "employed": 2_000,
    "self_employed": 2_000,
    "retired": 2_000,
    "student": 1_000,
    "unemployed": 1_000,
}


@dataclass(frozen=True)
class CreditTier:
    """A band of scores and what it earns: an APR and a ceiling on the limit."""

    name: str
    min_score: int
    max_score: int
    apr_bps: int
    limit_cap: int
    # True for the middle band: an admin decides, the rules only propose terms.
    needs_review: bool = False


# The tier table. Scores under 560 have no tier: they are declined.
TIERS: tuple[CreditTier, ...] = (
    CreditTier("exceptional", 800, 850, apr_bps=1_799, limit_cap=25_000_00),
    CreditTier("very_good", 760, 799, apr_bps=1_999, limit_cap=15_000_00),
    CreditTier("good", 720, 759, apr_bps=2_299, limit_cap=10_000_00),
    CreditTier("fair", 680, 719, apr_bps=2_599, limit_cap=5_000_00),
    CreditTier("near_prime", 620, 679, apr_bps=2_799, limit_cap=3_000_00, needs_review=True),
    CreditTier("subprime", 560, 619, apr_bps=2_999, limit_cap=1_000_00, needs_review=True),
)
MIN_APPROVABLE_SCORE = min(tier.min_score for tier in TIERS)

# Reason codes, most important first (the order reasons are listed in), each
# with the sentence a customer reads (adverse-action style, 12 CFR 1002.9).
REASON_DESCRIPTIONS: dict[str, str] = {
    "underage": "You must be at least 18 years old to open a credit card account.",
    "insufficient_income": "Your income is not sufficient for the amount of credit requested.",
    "low_credit_score": "Your credit score is below the minimum we require.",
    "high_debt_to_income": "Your housing payment is too high relative to your income.",
    "requested_limit_below_minimum": "The credit limit you requested is below our minimum of $300.",
    "borderline_credit_score": "Your credit score requires a manual review of your application.",
    "elevated_debt_to_income": (
        "Your housing payment relative to your income requires a manual review of your application."
    ),
    "declined_after_review": "After a manual review, we are unable to offer you credit at this time.",
    # A credit-limit request on an open account (api.applications.credit_limits).
    "credit_limit_at_tier_maximum": "Your credit limit is already the most we offer at your credit score.",
}
_REASON_ORDER = {code: position for position, code in enumerate(REASON_DESCRIPTIONS)}


@dataclass(frozen=True)
class ApplicationFacts:
    """What the rules weigh. Money in cents; ``today`` from the platform clock."""

    annual_income: int
    monthly_housing_payment: int
    employment_status: EmploymentStatus
    date_of_birth: date
    requested_credit_limit: int | None
    credit_score: int
    today: date

    def __post_init__(self) -> None:
        # Shapes the API schema already enforces; a violation here is a bug.
        if self.employment_status not in EMPLOYMENT_STATUSES:
            raise ValueError(f"unknown employment_status {self.employment_status!r}")
        if not MIN_SCORE <= self.credit_score <= MAX_SCORE:
            raise ValueError(f"credit_score {self.credit_score} is outside {MIN_SCORE}..{MAX_SCORE}")
        if self.monthly_housing_payment < 0:
            raise ValueError("monthly_housing_payment must not be negative")
        if self.requested_credit_limit is not None and self.requested_credit_limit <= 0:
            raise ValueError("requested_credit_limit must be positive when given")


@dataclass(frozen=True)
class Decision:
    status: DecisionStatus
    credit_limit: int | None
    apr_bps: int | None
    reasons: tuple[str, ...]
    dti_bps: int
    score: int
    # The score tier's name, or None under 560; for the admin's screen and the logs.
    tier: str | None = None


# --- the sandbox credit bureau ----------------------------------------------

# ASCII digits only, and few enough that int() is cheap; longer tags are plain text.
_SCORE_OVERRIDE = re.compile(r"\+score([0-9]{1,9})$")
_SCORE_MEAN = 705
_SCORE_SPREAD = 85  # points per standard deviation
# Twelve uniform bytes (0..255) sum to a mean of 1530 with a standard deviation
# of sqrt(12 * (256**2 - 1) / 12), just under 256.
_BYTES_SUMMED = 12
_SUM_MEAN = _BYTES_SUMMED * 255 // 2
_SUM_SD = 256


def sandbox_credit_score(email: str, full_name: str | None = None) -> int:
    """The sandbox bureau's score for an applicant: 300..850, the same every time.

    ``…+score<NNN>@…`` chooses the score (clamped); otherwise it is derived
    from the normalised email (trimmed, lower-cased, as accounts store it)
    and, when given, the full name (case and spacing ignored).
    """
    normalised_email = email.strip().lower()
    local_part = normalised_email.rpartition("@")[0] or normalised_email
    override = _SCORE_OVERRIDE.search(local_part)
    if override:
        return _clamp_score(int(override.group(1)))

    identity = normalised_email
    if full_name is not None:
        identity += "\n" + " ".join(full_name.casefold().split())
    digest = hashlib.sha256(identity.encode()).digest()
    # Irwin-Hall: the sum of twelve uniform bytes is close to normal; rescale it
    # to the bureau's mean and spread in integer arithmetic.
    deviation = sum(digest[:_BYTES_SUMMED]) - _SUM_MEAN
    return _clamp_score(_SCORE_MEAN + deviation * _SCORE_SPREAD // _SUM_SD)


def _clamp_score(score: int) -> int:
    return max(MIN_SCORE, min(MAX_SCORE, score))


# --- the rules ----------------------------------------------------------------


def age_on(date_of_birth: date, today: date) -> int:
    """Whole years lived; someone born on 29 February turns a year older on 1 March."""
    had_birthday = (today.month, today.day) >= (date_of_birth.month, date_of_birth.day)
    return today.year - date_of_birth.year - (0 if had_birthday else 1)


def debt_to_income_bps(annual_income: int, monthly_housing_payment: int) -> int:
    """Housing payment over monthly income, in basis points, rounded down.

    housing / (annual / 12) = housing * 12 / annual, all in integers. With no
    income the ratio is undefined: report the ceiling (or 0 with no housing).
    """
    if annual_income <= 0:
        return DTI_CEILING_BPS if monthly_housing_payment > 0 else 0
    return min(DTI_CEILING_BPS, monthly_housing_payment * 12 * 10_000 // annual_income)


def tier_for(score: int) -> CreditTier | None:
    for tier in TIERS:
        if tier.min_score <= score <= tier.max_score:
            return tier
    return None


def credit_limit_for(facts: ApplicationFacts, tier: CreditTier) -> int:
    """The largest limit the rules offer, before the $300 minimum is applied.

    The smallest of: the tier's cap, a share of annual income (by employment
    status) and the requested limit when one is given; rounded down to whole
    $100, so rounding never lifts it above any of the three.
    """
    income_share = max(0, facts.annual_income) * INCOME_SHARE_BPS[facts.employment_status] // 10_000
    ceiling = min(tier.limit_cap, income_share)
    if facts.requested_credit_limit is not None:
        ceiling = min(ceiling, facts.requested_credit_limit)
    return ceiling // LIMIT_STEP * LIMIT_STEP


def decide(facts: ApplicationFacts) -> Decision:
    """The automatic decision on an application (see the module docstring)."""
    score = facts.credit_score
    dti_bps = debt_to_income_bps(facts.annual_income, facts.monthly_housing_payment)
    tier = tier_for(score)
    declines: list[str] = []
    reviews: list[str] = []

    # Only adults may contract for credit.
    if age_on(facts.date_of_birth, facts.today) < MIN_AGE_YEARS:
        declines.append("underage")

    # No income, no ability to repay (12 CFR 1026.51(a)).
    if facts.annual_income <= 0:
        declines.append("insufficient_income")

    # The score: under 560 declines; the middle band (560-679) is reviewed.
    if tier is None:
        declines.append("low_credit_score")
    elif tier.needs_review:
        reviews.append("borderline_credit_score")

    # Debt-to-income: over 50 % declines; over 36 % is reviewed.
    if dti_bps > DTI_DECLINE_ABOVE_BPS:
        declines.append("high_debt_to_income")
    elif dti_bps > DTI_REVIEW_ABOVE_BPS:
        reviews.append("elevated_debt_to_income")

    # A limit under the minimum is no offer: blame the request when it is the
    # binding constraint (the API rejects such requests up front), else income.
    limit = credit_limit_for(facts, tier) if tier is not None else None
    if limit is not None and limit < MIN_CREDIT_LIMIT and facts.annual_income > 0:
        requested = facts.requested_credit_limit
        if requested is not None and requested < MIN_CREDIT_LIMIT:
            declines.append("requested_limit_below_minimum")
        else:
            declines.append("insufficient_income")

    tier_name = tier.name if tier is not None else None
    # (No tier or no limit always comes with a decline reason; the test narrows the types.)
    if declines or tier is None or limit is None:
        return Decision("declined", None, None, _ordered(declines), dti_bps, score, tier_name)
    if reviews:
        return Decision("manual_review", None, None, _ordered(reviews), dti_bps, score, tier_name)
    return Decision("approved", limit, tier.apr_bps, (), dti_bps, score, tier_name)


def decide_manually(
    facts: ApplicationFacts,
    *,
    decision: Literal["approved", "declined"],
    credit_limit: int | None = None,
) -> Decision:
    """An admin's decision on an application the rules sent to manual review.

    Approving uses the admin's limit (positive, at most the tier cap and the
    requested limit) or else the one the rules compute, always at the tier's
    APR. Hard declines (underage, no income, a score under 560, ...) cannot be
    overridden. Declining keeps the review's reasons for the adverse-action
    notice.
    """
    automatic = decide(facts)
    if decision == "declined":
        reasons = automatic.reasons or ("declined_after_review",)
        return Decision("declined", None, None, reasons, automatic.dti_bps, automatic.score, automatic.tier)

    tier = tier_for(facts.credit_score)
    if automatic.status == "declined" or tier is None:
        raise Conflict(
            "The rules forbid approving this application: " + ", ".join(automatic.reasons) + ".",
            code="application_not_approvable",
            reasons=list(automatic.reasons),
        )
    ceiling = tier.limit_cap
    if facts.requested_credit_limit is not None:
        ceiling = min(ceiling, facts.requested_credit_limit)
    if credit_limit is None:
        credit_limit = credit_limit_for(facts, tier)
    elif not 0 < credit_limit <= ceiling:
        raise UnprocessableEntity(
            f"The credit limit must be more than 0 and at most {ceiling} cents "
            "(the tier cap and the requested limit).",
            code="invalid_credit_limit",
            max_credit_limit=ceiling,
        )
    return Decision("approved", credit_limit, tier.apr_bps, (), automatic.dti_bps, automatic.score, tier.name)


def _ordered(reasons: list[str]) -> tuple[str, ...]:
    return tuple(sorted(set(reasons), key=_REASON_ORDER.__getitem__))
