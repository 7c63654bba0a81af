"""From a provider's configuration to the provider: built-in kinds, and plugins.

A third-party provider is one module that registers a factory under the ``leadsmith.providers``
entry-point group (``kind = "module:factory"``); the factory takes (config, api key) and returns an
object with ``name``, ``check``, ``close`` and the look-ups it offers (see ``base``).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from leadsmith.providers.apollo import ApolloProvider
from leadsmith.providers.base import Http
from leadsmith.providers.config import ProviderConfig, ProvidersFileError
from leadsmith.providers.hunter import HunterProvider
from leadsmith.providers.kaspr import KasprProvider
from leadsmith.providers.pdl import PdlProvider

Factory = Callable[[ProviderConfig, str], Any]


def _http(c: ProviderConfig) -> Http:
    return Http(c.name, c.base_url, timeout=c.timeout_seconds, concurrency=c.concurrency)


BUILT_IN: dict[str, Factory] = {
    "kaspr": lambda c, key: KasprProvider(c.name, _http(c), key, c.api_version),
    "hunter": lambda c, key: HunterProvider(c.name, _http(c), key),
    "pdl": lambda c, key: PdlProvider(c.name, _http(c), key),
    "apollo": lambda c, key: ApolloProvider(c.name, _http(c), key),
}


def factories() -> dict[str, Factory]:
    found: dict[str, Factory] = dict(BUILT_IN)
    for point in entry_points(group="leadsmith.providers"):
        found.setdefault(point.name, point.load())
    return found


def build(config: ProviderConfig, api_key: str) -> Any:
    known = factories()
    if config.kind not in known:
        raise ProvidersFileError(
            f"provider {config.name!r}: unknown kind {config.kind!r} (known: {', '.join(sorted(known))})"
        )
    return known[config.kind](config, api_key)
