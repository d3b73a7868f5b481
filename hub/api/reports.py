"""The daily report per checkpoint (audited: it counts people's passages), as JSON or CSV."""

import datetime as dt
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from hub import audit
from hub.api.deps import API, Db, Settings, Viewer
from hub.api.shapes import Responses
from hub.queries import report_csv, report_dict

router = APIRouter(prefix=API, tags=["reports"])

VerdictCounts = dict[str, int]


class CheckpointDayOut(BaseModel):
    checkpoint_id: str
    total: int
    verdicts: VerdictCounts = Field(description="PASS, DENY and REVIEW counts (all three always present)")
    reasons: dict[str, int] = Field(description="passages per reason code")
    hours: dict[str, VerdictCounts] = Field(description='per local hour ("00".."23") with passages')


CSV_OR_JSON: Responses = {
    200: {
        "model": list[CheckpointDayOut],
        "description": "the report: JSON by default, CSV with format=csv",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
}


# response_model=None: the answer is either JSON (checked against CheckpointDayOut below) or a CSV file;
# both are documented in `responses`.
@router.get("/reports/daily", response_model=None, responses=CSV_OR_JSON)
def report_daily(
    who: Viewer, db: Db, s: Settings, date: dt.date, format: Literal["json", "csv"] = "json"
) -> list[CheckpointDayOut] | PlainTextResponse:
    report = audit.audited_daily_report(db, date, s.timezone, actor=who.username, now=s.clock())
    if format == "csv":
        return PlainTextResponse(
            report_csv(report),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="report-{date.isoformat()}.csv"'},
        )
    return [CheckpointDayOut.model_validate(d) for d in report_dict(report)]
