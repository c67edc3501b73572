"""The rules register (api/regz.py) names R1-R17, and everything it names exists.

Tests are found by reading their files with ``ast`` (nothing is run): a node id
``path::test_name`` or ``path::Class::test_name`` (parametrised ids by their base name).
"""

from __future__ import annotations

import ast
import importlib
from functools import cache
from pathlib import Path

import pytest

from api import regz

ROOT = Path(__file__).resolve().parents[1]


@cache
def _test_names(path: str) -> frozenset[str]:
    """``name`` and ``Class::name`` of every test function defined in the file at ``path``."""
    file = ROOT / path
    if not file.is_file():
        return frozenset()
    tree = ast.parse(file.read_text(), filename=str(file))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names.update(
                f"{node.name}::{item.name}"
                for item in node.body
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
            )
    return frozenset(names)


def _exists(node_id: str) -> bool:
    path, _, name = node_id.partition("::")
    return bool(name) and name.split("[", 1)[0] in _test_names(path)


def _imports(target: str) -> bool:
    module_name, _, attribute = target.partition(":")
    obj: object = importlib.import_module(module_name)
    for part in attribute.split("."):
        obj = getattr(obj, part)
    return callable(obj)


def test_the_register_lists_r1_to_r17_once_each() -> None:
    assert [rule.id for rule in regz.RULES] == [f"R{n}" for n in range(1, 18)]
    for rule in regz.RULES:
        assert rule.citation
        assert rule.rule
        assert len(rule.rule) <= 110, f"{rule.id}: the rule in one line"


def test_the_rules_not_applied_yet_are_r8_r9_r13_r14_with_the_work_that_brings_them() -> None:
    not_yet = {rule.id: rule.coming_with for rule in regz.RULES if rule.status == "not yet"}
    assert set(not_yet) == {"R8", "R9", "R13", "R14"}
    assert all(not_yet.values())


@pytest.mark.parametrize(
    "rule", [r for r in (*regz.RULES, *regz.PRACTICES) if r.status == "applied"], ids=lambda r: r.id
)
def test_every_applied_rule_is_implemented_and_proven(rule: regz.Rule) -> None:
    assert rule.tests, f"{rule.id} is applied but names no test"
    assert rule.implemented_in or rule.id in regz.PENDING_IMPLEMENTATIONS, rule.id
    for target in rule.implemented_in:
        assert _imports(target), f"{rule.id}: {target} is not a function or class"
    missing = [t for t in rule.tests if not _exists(t) and t not in regz.PENDING_TESTS]
    assert not missing, f"{rule.id} names tests that do not exist: {missing}"
    # At least one test of the rule exists today, pending ones aside.
    assert any(_exists(t) for t in rule.tests) or all(t in regz.PENDING_TESTS for t in rule.tests)


def test_the_pending_lists_hold_only_what_is_still_missing() -> None:
    """Once the credit-balance work is merged, its tests exist: empty ``PENDING_TESTS`` then,
    fill R16's ``implemented_in`` and empty ``PENDING_IMPLEMENTATIONS``."""
    named = {t for rule in regz.RULES for t in rule.tests}
    assert regz.PENDING_TESTS <= named
    arrived = sorted(t for t in regz.PENDING_TESTS if _exists(t))
    assert not arrived, f"these tests exist now: remove them from api.regz.PENDING_TESTS: {arrived}"
    for rule_id in regz.PENDING_IMPLEMENTATIONS:
        assert not regz.rule(rule_id).implemented_in, (
            f"{rule_id} is implemented: drop it from the pending set"
        )


def test_the_existence_check_is_not_blind() -> None:
    assert _exists("tests/test_rules_register.py::test_the_existence_check_is_not_blind")
    assert _exists(
        "tests/api/billing/test_regz_vectors.py::test_a_repeat_violation_is_one_within_the_six_previous_cycles[x]"
    )
    assert not _exists("tests/api/billing/test_rules.py::test_that_does_not_exist")
    assert not _exists("tests/nowhere.py::test_x")
    with pytest.raises(AttributeError):
        _imports("api.billing.rules:no_such_function")
