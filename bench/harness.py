"""Repetitions, medians, the baseline beside ours, JSON results and the table.

Every figure is a ratio of ours over a baseline measured in the same run:
:func:`paired` alternates baseline and ours repetition by repetition, so a
neighbour's load hits both alike, and the medians are compared.
"""

from __future__ import annotations

import json
import platform
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Result:
    name: str
    ours: float
    baseline: float
    unit: str
    baseline_name: str
    goal: float | None
    # ">=": the ratio must reach the goal (throughput); "<=": stay under it (latency, time).
    direction: str = ">="
    ours_runs: list[float] = field(default_factory=list)
    baseline_runs: list[float] = field(default_factory=list)
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.ours / self.baseline if self.baseline else float("nan")

    @property
    def passed(self) -> bool | None:
        if self.goal is None:
            return None
        return self.ratio >= self.goal if self.direction == ">=" else self.ratio <= self.goal

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(ratio=self.ratio, passed=self.passed)
        return data


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def paired(
    ours: Callable[[], float], baseline: Callable[[], float], *, repetitions: int
) -> tuple[list[float], list[float]]:
    """Run baseline then ours ``repetitions`` times, interleaved; both lists of figures."""
    ours_runs: list[float] = []
    baseline_runs: list[float] = []
    for _ in range(repetitions):
        baseline_runs.append(baseline())
        ours_runs.append(ours())
    return ours_runs, baseline_runs


def save(result: Result, *, quick: bool, directory: Path = RESULTS) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{result.name}.json"
    payload = {
        **result.to_json(),
        "quick": quick,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"node": platform.node(), "python": platform.python_version()},
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def _figure(value: float) -> str:
    if value != value:  # nan
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:,.2f}"


def _goal(r: Result) -> str:
    return "-" if r.goal is None else f"{r.direction} {r.goal:g}"


def _verdict(r: Result) -> str:
    return "info" if r.passed is None else ("pass" if r.passed else "FAIL")


def table(results: list[Result]) -> str:
    """The results as a Markdown table (what ``make bench`` prints and the README keeps)."""
    rows = [
        "| benchmark | ours | baseline | ratio | goal | result |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        rows.append(
            f"| `{r.name}` | {_figure(r.ours)} {r.unit} | {_figure(r.baseline)} ({r.baseline_name}) "
            f"| {r.ratio:.2f} | {_goal(r)} | {_verdict(r)} |"
        )
    return "\n".join(rows)
