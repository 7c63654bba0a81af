"""Logging: plain lines by default, one JSON object per line with ``LEADSMITH_LOG_FORMAT=json`` (what log
pipelines expect), the same for leadsmith's, uvicorn's and every library's records.

With ``LEADSMITH_ACCESS_LOG=true`` each request gets one line from leadsmith itself (``leadsmith.access``):
request id, method, path, status, duration and account id. Never a key, a password, a body or a query
string (identities travel in bodies; a path holds at most a job's id).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import orjson

ACCESS = logging.getLogger("leadsmith.access")
# What a request line carries beyond the message (``extra=`` of the log call).
REQUEST_FIELDS = ("request_id", "method", "endpoint", "status", "duration_ms", "account_id")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in REQUEST_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                out[name] = value
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


def configure(level: str, fmt: str) -> None:
    """The root logger's one handler, in ``fmt`` ("text" or "json"); uvicorn's loggers go through it."""
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter() if fmt == "json" else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # leadsmith writes its own request lines (``request_line``); uvicorn's would repeat them with the
    # client's address.
    uvicorn_access = logging.getLogger("uvicorn.access")
    uvicorn_access.handlers[:] = []
    uvicorn_access.propagate = False
    ACCESS.setLevel(logging.INFO)  # asked for with LEADSMITH_ACCESS_LOG, whatever the level


def uvicorn_log_config(level: str, fmt: str) -> dict[str, Any]:
    """uvicorn's ``log_config``: the same formatting as ours, from the start (before the app's lifespan)."""
    formatter: dict[str, Any] = (
        {"()": "leadsmith.logs.JsonFormatter"}
        if fmt == "json"
        else {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {"default": {"class": "logging.StreamHandler", "formatter": "default"}},
        "root": {"handlers": ["default"], "level": level.upper()},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True, "level": level.upper()},
            "uvicorn.error": {"handlers": [], "propagate": True, "level": level.upper()},
            "uvicorn.access": {"handlers": [], "propagate": False},
        },
    }


def request_line(request_id: str, method: str, path: str, status: int, seconds: float, account_id: int | None) -> None:
    ACCESS.info(
        "%s %s %d %.1f ms",
        method,
        path,
        status,
        seconds * 1000,
        extra={
            "request_id": request_id,
            "method": method,
            "endpoint": path,
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
            "account_id": account_id,
        },
    )
