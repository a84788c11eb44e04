"""Small helpers shared by routers."""

from fastapi import Response


def set_location(response: Response, path: str) -> None:
    """``Location`` of a created resource (a path under this service)."""
    response.headers["Location"] = path
