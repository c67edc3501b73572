"""Answers serialised once, for the hot routes.

A sync route that returns a pydantic model makes FastAPI validate that model
again against the route's ``response_model`` and serialise it, in its thread
pool: one more thread hop and one more validation per request. A route that
already built its model returns ``model_response(model)`` instead and names
the model in its decorator (``response_model=…``), so the OpenAPI document
is unchanged.
"""

from __future__ import annotations

from fastapi import Response
from pydantic import BaseModel

JSON = "application/json"


def model_response(model: BaseModel, status_code: int = 200) -> Response:
    return Response(model.model_dump_json(), status_code=status_code, media_type=JSON)
