"""The minimal FastAPI baseline: ``GET /ping`` and ``POST /insert`` (one insert through a psycopg pool).

Run as ``uvicorn --factory bench.minimal_app:create`` with ``BENCH_DATABASE_URL``
set; the bench creates its table (``bench_minimal``) first. Sync endpoints,
like the API's, so both run in the same thread pool.
"""

from __future__ import annotations

import os

from fastapi import FastAPI
from psycopg_pool import ConnectionPool
from pydantic import BaseModel

TABLE = """
create table if not exists bench_minimal (
    id bigint generated always as identity primary key,
    name text not null,
    amount bigint not null,
    created_at timestamptz not null default now()
)
"""


class Item(BaseModel):
    name: str
    amount: int


def create() -> FastAPI:
    pool = ConnectionPool(os.environ["BENCH_DATABASE_URL"], min_size=4, max_size=10, open=True)
    app = FastAPI()

    @app.get("/ping")
    def ping() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/insert")
    def insert(item: Item) -> dict[str, int]:
        with pool.connection() as conn:
            row = conn.execute(
                "insert into bench_minimal (name, amount) values (%s, %s) returning id",
                (item.name, item.amount),
            ).fetchone()
        assert row is not None
        return {"id": int(row[0])}

    return app
