"""The structured access log: one JSON line per request.

Files: ``$CARDPORTAL_HOME/logs/api/YYYY-MM-DD.jsonl`` (the UTC day the
request finished). The data platform ingests these files; the schema is
stable (add fields, never rename):

| field        | type            | meaning                                              |
|--------------|-----------------|------------------------------------------------------|
| ts           | string RFC 3339 | when the response finished, UTC, microseconds        |
| request_id   | string          | ``X-Request-ID`` (the caller's, or generated)        |
| method       | string          | HTTP method                                          |
| route        | string or null  | the route template (``/v1/accounts/{id}``); null when no route matched |
| path         | string          | the raw path (ids, never a query string)             |
| status       | integer         | response status                                      |
| duration_ms  | number          | time in the app, milliseconds, 3 decimals            |
| user_id      | string or null  | the authenticated user (``usr_…``), or ``network``   |
| role         | string or null  | the caller's role                                    |
| client_ip    | string or null  | the peer address                                     |
| bytes_in     | integer         | request body bytes                                   |
| bytes_out    | integer         | response body bytes                                  |
| error_code   | string or null  | the problem+json ``code`` of an error answer         |

Never a password, token, card number, query string or request body.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO


class AccessLogWriter:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._day: str | None = None
        self._handle: TextIO | None = None

    def write(self, record: dict[str, Any]) -> None:
        now = datetime.now(UTC)
        record = {"ts": now.isoformat(timespec="microseconds").replace("+00:00", "Z"), **record}
        line = json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n"
        day = now.strftime("%Y-%m-%d")
        with self._lock:
            if day != self._day or self._handle is None:
                self._open(day)
            assert self._handle is not None
            self._handle.write(line)
            self._handle.flush()

    def _open(self, day: str) -> None:
        if self._handle is not None:
            self._handle.close()
        self.directory.mkdir(parents=True, exist_ok=True)
        # O_APPEND: lines from several worker processes never interleave.
        fd = os.open(self.directory / f"{day}.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        self._handle = os.fdopen(fd, "a", encoding="utf-8", buffering=1)
        self._day = day

    def close(self) -> None:
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None
