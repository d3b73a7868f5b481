"""The operators' dashboard: static files packaged with the hub (no CDN), using the API's routers."""

from importlib import resources

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

STATIC = resources.files("hub") / "dashboard"

router = APIRouter(include_in_schema=False)


@router.get("/")
def index() -> FileResponse:
    return FileResponse(str(STATIC / "index.html"))


@router.get("/static/{name}")
def asset(name: str) -> FileResponse:
    if "/" in name or name.startswith(".") or not (STATIC / name).is_file():
        raise HTTPException(404)
    return FileResponse(str(STATIC / name))
