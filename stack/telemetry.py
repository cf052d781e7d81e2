"""OpenTelemetry trace export, set up from the standard OTEL_* variables.

Tracing is on when `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT`
is set (and `OTEL_SDK_DISABLED` is not true, `OTEL_TRACES_EXPORTER` is not `none`): spans
go to that OTLP/HTTP endpoint in batches. The exporter reads the rest of the standard
variables itself (headers, timeout, compression, certificates), the SDK reads the sampler
and batch settings, the resource `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES`
(the service is `wakeful` unless they say otherwise). Without an endpoint the SDK is
never imported and `tracer()` is None.

Ids: a caller may fix the ids of the next span it starts (`fixed_ids`), so every run of a
task is one trace whose id is derived from the task id (graphs/tracing.py).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Tracer

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
SERVICE_NAME = "wakeful"
INSTRUMENTATION = "wakeful"

_fixed: ContextVar[tuple[int, int] | None] = ContextVar("wakeful_otel_fixed_ids", default=None)
_lock = threading.Lock()
_provider: TracerProvider | None = None
_configured = False


def enabled(environ: Mapping[str, str] = os.environ) -> bool:
    """True when the environment asks for traces to be exported."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower()
    if exporters and "otlp" not in {e.strip() for e in exporters.split(",")}:
        return False
    return any(environ.get(name, "").strip() for name in ENDPOINT_VARIABLES)


def tracer() -> Tracer | None:
    """wakeful's tracer, set up from the environment on first use; None when disabled."""
    if not _configured:
        configure()
    if _provider is None:
        return None
    return _provider.get_tracer(INSTRUMENTATION)


def configure() -> bool:
    """(Re)read the environment: a provider exporting to the endpoint, or none. An earlier
    provider is flushed and shut down first. Returns whether tracing is on."""
    global _provider, _configured
    with _lock:
        previous, _provider = _provider, None
        if previous is not None:
            previous.shutdown()
        if enabled():
            _provider = _new_provider()
        _configured = True
        return _provider is not None


def force_flush(timeout_millis: int = 30_000) -> bool:
    """Export every ended span now (True when all went out, or tracing is off)."""
    provider = _provider
    return True if provider is None else provider.force_flush(timeout_millis)


def shutdown() -> None:
    """Flush and stop exporting; the next `tracer()` reads the environment again."""
    global _provider, _configured
    with _lock:
        previous, _provider, _configured = _provider, None, False
    if previous is not None:
        previous.shutdown()


@contextlib.contextmanager
def fixed_ids(trace_id: int, span_id: int) -> Iterator[None]:
    """The span started inside this block (one) gets these ids, when it is a root span."""
    token = _fixed.set((trace_id, span_id))
    try:
        yield
    finally:
        _fixed.reset(token)


def _new_provider() -> TracerProvider:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    attributes: dict[str, Any] = {}
    if not os.environ.get("OTEL_SERVICE_NAME") and "service.name=" not in os.environ.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    ):
        attributes["service.name"] = SERVICE_NAME
    provider = TracerProvider(resource=Resource.create(attributes), id_generator=_ids())
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


def _ids() -> Any:
    from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator

    class FixableIds(IdGenerator):
        """Random ids, except those `fixed_ids` asked for."""

        random = RandomIdGenerator()

        def generate_trace_id(self) -> int:
            fixed = _fixed.get()
            return fixed[0] if fixed else self.random.generate_trace_id()

        def generate_span_id(self) -> int:
            fixed = _fixed.get()
            return fixed[1] if fixed else self.random.generate_span_id()

        def is_trace_id_random(self) -> bool:
            return True  # task ids are uuid4s (random low bits) or hashed

    return FixableIds()
