"""JSON bodies parsed by hand, after authentication, into pydantic models, with errors that name the field."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from leadsmith.engine.identifiers import normalise_domain
from leadsmith.errors import BadRequest, coded, describe_validation_errors, field_error

M = TypeVar("M", bound=BaseModel)


async def read_json_object(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        raise coded(BadRequest, "empty_body", "the request body is empty; send a JSON object")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise coded(BadRequest, "invalid_json", f"the request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        kind = "an array" if isinstance(data, list) else f"a JSON {type(data).__name__}"
        raise coded(
            BadRequest,
            "invalid_json",
            f"the request body must be a JSON object, not {kind}",
        )
    return data


def validate_body(model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        message, details = describe_validation_errors(exc.errors(include_url=False, include_input=False))
        raise BadRequest(message, details=details) from None


async def parse_body(request: Request, model: type[M]) -> M:
    return validate_body(model, await read_json_object(request))


def body_openapi(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` documenting a JSON body that the endpoint parses itself (so auth runs first)."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }


def domain_field(text: str) -> str:
    """The ``domain`` field as a mail domain, or a 400 naming it."""
    domain = normalise_domain(text)
    if domain is None:
        raise field_error("domain", f"not a company domain: {text[:100]!r} (try example.com)")
    return domain
