"""The one concurrency pool the warehouse's marts need, and what it serialises.

Every run that builds ``marts_staging`` (dbt), checks it, swaps it into ``marts``
(publish) or reads ``marts`` for a report file holds pool ``warehouse_marts``,
whose limit is 1. dagster.yaml (``cardportal.warehouse.write_dagster_yaml``)
sets ``concurrency: pools: granularity: run``: a run holds the pool from the
moment the queue launches it until it ends, not step by step. Step by step is
not enough here: run A's dbt, then run B's dbt rebuilding the same
``marts_staging``, then A's checks and publish would publish B's build, and B's
checks would find the schema gone. With the run as the unit, daily runs build
and publish one after another, in the order they were queued, while at most two
runs (``max_concurrent_runs``) are in progress and extracts of other days or
unrelated jobs run beside them.

Runs that bypass the queue (``materialize()`` in a test or a bench) do not see
the pool: :mod:`pipelines.assets_publish` refuses to publish a ``marts_staging``
that another run built, so such a race fails instead of publishing the wrong
build.

The limit is set on the instance when Dagster starts (``cardportal.dagster.prepare``:
``dagster instance concurrency set warehouse_marts 1``), not left to dagster.yaml's
``default_limit``: the queue initialises a default limit only when it first sees the pool,
and every run it dequeues in that same pass goes through unblocked (two daily runs started
together in the race test before this was set).
"""

from cardportal.warehouse import MARTS_POOL

__all__ = ["MARTS_POOL"]
