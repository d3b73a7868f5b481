"""Shapes shared by the routers: the error body, documented error answers, and how times are written."""

from typing import Annotated, Any

from pydantic import BaseModel, Field

# Times the hub answers with are ISO 8601 strings with their zone (`datetime.isoformat()` of an aware
# time, e.g. 2026-11-29T01:00:00+00:00), written by the queries themselves; the schema says so.
Timestamp = Annotated[
    str, Field(description="ISO 8601 time with its zone", json_schema_extra={"format": "date-time"})
]


class Problem(BaseModel):
    detail: str


Responses = dict[int | str, dict[str, Any]]

NOT_FOUND: Responses = {404: {"model": Problem, "description": "no such item"}}
