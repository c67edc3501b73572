"""The sandbox clock: one offset for every process, and every process told of a move."""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy.engine import Engine

from api.clock import Clock


def _offset_after_notice(clock: Clock, expected: timedelta) -> timedelta:
    """The clock's offset once it has heard of the move (or after 10 s, to fail with it)."""
    deadline = time.monotonic() + 10
    while clock.offset() != expected and time.monotonic() < deadline:
        time.sleep(0.01)
    return clock.offset()


def test_a_move_reaches_a_listening_clock_before_its_cache_expires(engine: Engine) -> None:
    """Two API workers: one moves the clock, the other (its cache an hour long) hears of it on
    the move's commit. Before, it kept the old offset until its cache expired, and purchases
    just after a simulated day began were stamped on the day before."""
    worker = Clock(movable=True, engine=engine, cache_seconds=3600)
    worker.start()
    try:
        assert worker.wait_listening()
        start = worker.offset()
        other_worker = Clock(movable=True, engine=engine, cache_seconds=3600)
        other_worker.set_offset(start + timedelta(days=3))
        assert _offset_after_notice(worker, start + timedelta(days=3)) == start + timedelta(days=3)
        other_worker.advance(timedelta(hours=5))
        later = start + timedelta(days=3, hours=5)
        assert _offset_after_notice(worker, later) == later
    finally:
        worker.stop()


def test_a_clock_that_does_not_listen_keeps_its_offset_for_its_cache(engine: Engine) -> None:
    """Without the listener (a CLI run, or a lost connection) the cache's bound still holds."""
    cached = Clock(movable=True, engine=engine, cache_seconds=3600)
    start = cached.offset()
    Clock(movable=True, engine=engine, cache_seconds=0).set_offset(start + timedelta(days=1))
    assert cached.offset() == start
    cached.forget()
    assert cached.offset() == start + timedelta(days=1)
