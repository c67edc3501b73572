"""The rules register: every rule of Regulation Z (12 CFR part 1026) the product applies, in one table.

One row per rule of ``shared/REGZ.md`` (R1-R17): its citation, the rule in one line,
whether the product applies it yet (and, if not, the work that will bring it), where it is
implemented (``module:function``, each of which imports) and the tests that prove it
(pytest node ids). ``tests/test_rules_register.py`` fails when an applied rule names no
test, a named test does not exist, or a named function does not import.

A reader who wants to know how the product keeps a rule starts here, opens the function,
reads the regulation's words in its docstring, and runs the tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Status = Literal["applied", "not yet"]


@dataclass(frozen=True)
class Rule:
    id: str
    citation: str
    rule: str
    status: Status
    implemented_in: tuple[str, ...] = ()
    tests: tuple[str, ...] = ()
    coming_with: str | None = None  # for rules not yet applied: the work that brings them


_RULES = "tests/api/billing/test_rules.py"
_VECTORS = "tests/api/billing/test_regz_vectors.py"
_WARNING = "tests/api/billing/test_minimum_payment_warning.py"
_UNDERWRITING = "tests/api/applications/test_underwriting.py"
_APPLICATIONS = "tests/api/applications/test_api.py"
_CREDIT_BALANCES = "tests/api/payments/test_credit_balances.py"
_MONEY = "tests/api/billing/test_money_rules.py"
_RETURNS = "tests/api/billing/test_returned_payments.py"
_WORLDS = "tests/simulator/test_bulk.py::test_simulated_worlds_keep_the_money_rules"

RULES: tuple[Rule, ...] = (
    Rule(
        "R1",
        "12 CFR 1026.5(b)(2)(ii)(A)-(B)",
        "The statement goes out at least 21 days before the payment due date.",
        "applied",
        ("api.billing.rules:payment_due_date", "api.billing.rules:due_day_of_month"),
        (
            f"{_RULES}::test_the_due_date_is_the_same_day_every_month",
            f"{_RULES}::test_due_dates_across_month_ends_and_leap_years",
            "tests/api/billing/test_due_dates.py::test_cycle_day_4_falls_due_on_the_same_day_in_february",
        ),
    ),
    Rule(
        "R2",
        "12 CFR 1026.7(b)(11)(i)(A); 15 U.S.C. 1637(o); 12 CFR 1026.10(a)",
        "The due date is the same day each month; a payment counts on the day it was made.",
        "applied",
        (
            "api.billing.rules:payment_due_date",
            "api.billing.rules:due_day_of_month",
            "api.billing.repository:net_paid",
            "api.billing.repository:payments_on_their_way",
        ),
        (
            f"{_RULES}::test_the_due_date_is_the_same_day_every_month",
            f"{_RULES}::test_february_keeps_the_due_day",
            "tests/api/billing/test_due_dates.py::test_cycle_day_4_falls_due_on_the_same_day_in_february",
            f"{_MONEY}::test_a_payment_made_on_the_due_date_and_confirmed_after_midnight_is_on_time",
            f"{_MONEY}::test_a_payment_made_on_the_due_date_that_fails_after_midnight_is_late",
        ),
    ),
    Rule(
        "R3",
        "12 CFR 1026.53(a)",
        "Any amount paid above the minimum goes to the balance with the highest APR first.",
        "applied",
        ("api.billing.rules:allocate_payment",),
        (
            f"{_RULES}::test_allocation_pays_highest_apr_first_above_the_minimum",
            f"{_RULES}::test_allocation_with_a_second_balance_class",
        ),
    ),
    Rule(
        "R4",
        "12 CFR 1026.54(a)(1)",
        "No interest on days of earlier cycles, nor on the part repaid within the grace period.",
        "applied",
        (
            "api.billing.rules:daily_balances",
            "api.billing.rules:grace_period_applies",
            "api.billing.service:close_cycle",
        ),
        (
            f"{_VECTORS}::test_no_interest_on_the_part_repaid_within_the_grace_period",
            f"{_VECTORS}::test_interest_never_reaches_back_into_an_earlier_cycle",
            f"{_VECTORS}::test_a_balance_paid_in_full_by_the_due_date_keeps_the_grace_period",
            "tests/api/billing/test_worked_example.py::test_three_cycles_to_the_cent",
        ),
    ),
    Rule(
        "R5",
        "12 CFR 1026.52(b)(1)(ii)",
        "A late fee is at most the safe harbour: $30 first, $41 for a repeat within six cycles.",
        "applied",
        ("api.billing.rules:late_fee", "api.billing.rules:late_fee_schedule"),
        (
            f"{_RULES}::test_late_fees_follow_the_dated_safe_harbour",
            f"{_VECTORS}::test_a_repeat_violation_is_one_within_the_six_previous_cycles",
            "tests/api/billing/test_worked_example.py::test_three_cycles_to_the_cent",
            f"{_MONEY}::test_no_late_fee_when_a_refund_leaves_nothing_owed",
        ),
    ),
    Rule(
        "R6",
        "12 CFR 1026.52(b)(2)(i)-(ii)",
        "A penalty fee never exceeds the minimum payment due; one penalty fee per event.",
        "applied",
        (
            "api.billing.rules:late_fee",
            "api.billing.service:assess_late_fees",
            "api.payments.service:returned_payment_fee",
        ),
        (
            f"{_VECTORS}::test_a_late_fee_never_exceeds_the_minimum_payment_due",
            f"{_MONEY}::test_no_late_fee_when_a_refund_leaves_nothing_owed",
            f"{_MONEY}::test_a_refund_that_leaves_less_than_the_minimum_owed_caps_the_fee",
            f"{_RETURNS}::test_a_returned_payment_does_not_pay_the_minimum",
            _WORLDS,
        ),
    ),
    Rule(
        "R7",
        "12 CFR 1026.52(a)",
        "Fees in the first year are at most 25 % of the initial limit (penalty fees excluded).",
        "applied",
        ("api.billing.service:assess_late_fees", "api.payments.service:returned_payment_fee"),
        (f"{_VECTORS}::test_the_only_fees_are_penalty_fees",),
    ),
    Rule(
        "R8",
        "12 CFR 1026.55(b)(4), 1026.9(g), 1026.59",
        "A penalty APR only after 60 days late, with 45 days' notice, reverting after 6 on-time payments.",
        "not yet",
        coming_with="the coming balances by APR / penalty pricing work",
    ),
    Rule(
        "R9",
        "12 CFR 1026.56",
        "An over-limit fee only with the consumer's opt-in, at most one per cycle.",
        "not yet",
        coming_with="the coming balances by APR / penalty pricing work",
    ),
    Rule(
        "R10",
        "12 CFR 1026.7(b)(4)-(6); Appendix G",
        "Interest by average daily balance at APR / 365, shown with fees for the period and the year.",
        "applied",
        (
            "api.billing.rules:daily_balances",
            "api.billing.rules:average_daily_balance",
            "api.billing.rules:interest_charge",
            "api.billing.pdf:render_statement_pdf",
        ),
        (
            f"{_RULES}::test_interest_is_adb_times_daily_rate_times_days",
            "tests/api/billing/test_worked_example.py::test_three_cycles_to_the_cent",
            "tests/api/billing/test_pdf.py::test_statement_pdf_reads_back",
        ),
    ),
    Rule(
        "R11",
        "12 CFR 1026.7(b)(12); Appendix M1; model forms G-18(C)(1)-(3)",
        "The minimum payment warning: repayment period and cost, the 36-month line, the counseling number.",
        "applied",
        (
            "api.billing.rules:minimum_payment_warning",
            "api.billing.rules:disclose_warning",
            "api.billing.rules:level_payment",
            "api.billing.schemas:MinimumPaymentWarningOut",
            "api.billing.pdf:render_statement_pdf",
        ),
        (
            f"{_RULES}::test_the_disclosed_warning_rounds_as_1026_7_b_12_says",
            f"{_RULES}::test_model_form_g_18_c_1_sample",
            f"{_RULES}::test_three_years_or_less_after_rounding_has_no_36_month_line",
            f"{_RULES}::test_negative_or_no_amortization_shows_only_the_36_month_line",
            f"{_WARNING}::test_no_36_month_line_when_the_minimum_repays_in_3_years_after_rounding",
            f"{_WARNING}::test_the_36_month_line_in_whole_dollars_when_it_takes_longer",
        ),
    ),
    Rule(
        "R12",
        "12 CFR 1026.7(b)(11)(i)(B)",
        "The statement's front shows the due date and the late fee that may be charged.",
        "applied",
        ("api.billing.pdf:render_statement_pdf",),
        ("tests/api/billing/test_pdf.py::test_statement_pdf_reads_back",),
    ),
    Rule(
        "R13",
        "12 CFR 1026.13",
        "Billing errors: 60 days to dispute, acknowledged in 30, resolved within 2 cycles.",
        "not yet",
        coming_with="the coming disputes work",
    ),
    Rule(
        "R14",
        "12 CFR 1026.12(b)",
        "A cardholder's liability for unauthorized use is at most $50.",
        "not yet",
        coming_with="the coming disputes work",
    ),
    Rule(
        "R15",
        "12 CFR 1026.51",
        "Credit only on the applicant's own ability to pay; no account under 18.",
        "applied",
        (
            "api.applications.underwriting:decide",
            "api.applications.underwriting:credit_limit_for",
            "api.applications.underwriting:debt_to_income_bps",
            "api.applications.underwriting:age_on",
        ),
        (
            f"{_UNDERWRITING}::test_no_income_is_declined",
            f"{_UNDERWRITING}::test_without_a_request_the_limit_is_the_smaller_of_cap_and_income_share",
            f"{_UNDERWRITING}::test_debt_to_income_bands",
            f"{_UNDERWRITING}::test_underage_is_declined_even_with_a_perfect_profile",
            f"{_APPLICATIONS}::test_zero_income_is_declined_as_insufficient",
        ),
    ),
    Rule(
        "R16",
        "12 CFR 1026.11(a)",
        "A credit balance is refunded on request, and in good faith after six months.",
        "applied",
        (
            "api.payments.credit_balances:refund_credit_balance",
            "api.payments.credit_balances:lasting_credit_balances",
            "api.payments.daily:refund_lasting_credit_balances",
        ),
        (
            f"{_CREDIT_BALANCES}::test_refund_on_request",
            f"{_CREDIT_BALANCES}::test_refund_after_six_months",
        ),
    ),
    Rule(
        "R17",
        "12 CFR 1002.9 (Regulation B)",
        "A declined applicant is told the principal reasons, most important first.",
        "applied",
        ("api.applications.underwriting:decide", "api.applications.underwriting:decide_manually"),
        (
            f"{_UNDERWRITING}::test_every_decline_reason_is_listed_most_important_first",
            f"{_UNDERWRITING}::test_every_reason_code_has_a_plain_sentence",
            f"{_APPLICATIONS}::test_score_under_560_is_declined_with_low_credit_score",
            f"{_APPLICATIONS}::test_admin_decline_keeps_the_reasons",
        ),
    ),
)

# Work named by the register before it existed: empty once it lands (the register test fails
# when a name here exists).
PENDING_TESTS: frozenset[str] = frozenset()
PENDING_IMPLEMENTATIONS: frozenset[str] = frozenset()


# The issuer's practices around the rules (REGZ.md, after the table): no R-number, the same
# bookkeeping.
PRACTICES: tuple[Rule, ...] = (
    Rule(
        "P1",
        "REGZ.md (issuer practice); 12 CFR 1026.7(b)(12) comment 7(b)(12)(i)-5",
        "The minimum payment includes any amount past due: paying each minimum shown makes one current.",
        "applied",
        (
            "api.billing.rules:minimum_payment_due",
            "api.billing.service:close_cycle",
            "api.billing.service:delinquency_on",
            "api.billing.service:billing_summaries",
        ),
        (
            f"{_MONEY}::test_paying_each_minimum_shown_after_a_miss_brings_the_account_current",
            "tests/api/billing/test_worked_example.py::test_three_cycles_to_the_cent",
            _WORLDS,
        ),
    ),
    Rule(
        "P2",
        "REGZ.md (issuer practice): nothing owed means nothing late",
        "What is due by the due date is the smaller of the unpaid minimum and what is still owed.",
        "applied",
        ("api.billing.service:assess_late_fees", "api.billing.service:delinquency_on"),
        (
            f"{_MONEY}::test_no_late_fee_when_a_refund_leaves_nothing_owed",
            f"{_MONEY}::test_a_refund_that_leaves_less_than_the_minimum_owed_caps_the_fee",
            _WORLDS,
        ),
    ),
    Rule(
        "P3",
        "12 CFR 1026.7(b) (the periodic statement's figures)",
        "Every cycle has exactly one statement; an account that fails on a day is retried in order.",
        "applied",
        ("api.jobs.daily:retry_failures", "api.jobs.daily:run_day", "api.jobs.daily:catch_up"),
        (
            f"{_MONEY}::test_an_account_that_fails_on_its_closing_day_is_retried_and_keeps_every_cycle",
            f"{_MONEY}::test_ops_run_day_retries_a_failure_when_every_day_has_run",
            _WORLDS,
        ),
    ),
    Rule(
        "P4",
        "12 CFR 1026.7(b)(2)-(4) (credits and debits on the statement)",
        "A returned payment is a line of its own on the statement, never a negative payment.",
        "applied",
        ("api.billing.service:close_cycle", "api.billing.pdf:render_statement_pdf"),
        (f"{_RETURNS}::test_a_returned_payment_does_not_pay_the_minimum",),
    ),
)


def rule(rule_id: str) -> Rule:
    """The register's row for ``rule_id`` ("R1" .. "R17")."""
    for row in (*RULES, *PRACTICES):
        if row.id == rule_id:
            return row
    raise KeyError(rule_id)
