"""Embedded deterministic REST API (loopback) for demos, integration tests and benchmarks.

``from rest_stream.demo import DemoApi``.  The re-export is lazy so that
``python -m rest_stream.demo.server`` does not import the module twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rest_stream.demo.server import DemoApi, Fault, RequestLog

__all__ = ["DemoApi", "Fault", "RequestLog"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from rest_stream.demo import server

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
