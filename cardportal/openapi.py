"""Write the API's OpenAPI document without a running server or database.

``python -m cardportal.openapi web/openapi.json`` (or ``make web-openapi``)
builds the app against a throwaway home and a database URL it never connects
to (SQLAlchemy engines connect lazily), and writes ``app.openapi()`` as
stable, sorted JSON. The web app's typed client is generated from that file,
and a test fails when the committed copy is stale.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from cardportal.settings import Settings

# Never connected to: only the engine object is built.
_UNUSED_DATABASE_URL = "postgresql+psycopg://openapi@localhost/unused"


def build_schema() -> dict[str, Any]:
    from api.main import create_app

    with tempfile.TemporaryDirectory(prefix="cardportal-openapi-") as home:
        settings = Settings(CARDPORTAL_ENV="sandbox", CARDPORTAL_HOME=Path(home))
        app = create_app(settings, database_url=_UNUSED_DATABASE_URL)
        try:
            return app.openapi()
        finally:
            app.state.access_log.close()
            app.state.engine.dispose()


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.exit("usage: python -m cardportal.openapi OUTPUT.json")
    Path(args[0]).write_text(render(build_schema()), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
