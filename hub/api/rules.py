"""The health rules the hub pushes to every kiosk (hub/rules.py), summarised for operators."""

from fastapi import APIRouter
from pydantic import BaseModel, Field

from hub.api.deps import API, Db, Viewer
from hub.rules import current_rules, summary

router = APIRouter(prefix=API, tags=["rules"])


class RuleOut(BaseModel):
    identifier: str
    version: str
    type: str
    country: str
    certificate_type: str
    valid_from: str
    valid_to: str
    description_vi: str
    description_en: str


class RulesOut(BaseModel):
    version: int = Field(description="0 before the first `hub rules set`")
    rules: list[RuleOut]


@router.get("/rules", response_model=RulesOut)
def rules(who: Viewer, db: Db) -> RulesOut:
    current = current_rules(db)
    if current is None:
        return RulesOut(version=0, rules=[])
    version, body = current
    return RulesOut(version=version, rules=[RuleOut(**row) for row in summary(body)])
