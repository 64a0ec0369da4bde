"""The FastAPI application: web chat, webhooks, health and metrics in one process."""

from __future__ import annotations

import contextlib
import hmac
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import APIRouter, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.routing import Route

from bot.body_limit import BodyLimit
from bot.observability import configure_logging
from bot.proxies import TrustedProxies
from bot.runtime import Runtime
from bot.settings import Settings

log = structlog.get_logger(__name__)
DASHBOARD_OFF = ("The admin dashboard is off: set ADMIN_TOKEN (a long random string, at least"
                 " 24 characters) and restart, then sign in at /admin/login with it.\n")


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None) -> FastAPI:
    """Build the app; the database, queue and worker start with the app's lifespan."""
    settings = settings or Settings()
    configure_logging(settings.log_level, settings.log_json)
    rt = runtime or Runtime(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await rt.start(worker=settings.worker_in_process)
        try:
            yield
        finally:
            await rt.stop()

    docs = settings.api_docs  # off by default: the schema lists every route to anyone
    app = FastAPI(title="Messaging bot", version="0.1.0", lifespan=lifespan,
                  docs_url="/docs" if docs else None, redoc_url="/redoc" if docs else None,
                  openapi_url="/openapi.json" if docs else None)
    app.state.runtime = rt
    app.add_middleware(BodyLimit, max_bytes=settings.http_max_body_bytes)
    app.add_middleware(TrustedProxies, trusted=settings.trusted_proxies)  # outermost

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Logged with the route and the fields at fault, never the values sent.
        fields = [".".join(str(part) for part in error.get("loc", ())) for error in exc.errors()]
        log.info("request_rejected", reason="invalid_request", path=request.url.path,
                 fields=fields[:10])
        return await _invalid_request(request, exc)

    for adapter in rt.channels:
        include_channel(app, adapter.router(lambda message: rt.ingest(message)))

    if settings.admin_token is not None:  # the dashboard is never open without a token
        from bot.admin import AdminDeps, build_admin

        app.include_router(build_admin(AdminDeps(
            settings=rt.settings, db=rt.db, metrics=rt.metrics, handoffs=rt.handoffs,
            rate_limits=rt.rate_limits)))
    else:
        @app.get("/admin", include_in_schema=False)
        async def dashboard_off() -> Response:
            # says why, instead of a bare 404 nobody can explain
            return Response(DASHBOARD_OFF, status_code=404, media_type="text/plain")

    @app.get("/healthz", tags=["operations"])
    async def healthz(request: Request) -> JSONResponse:
        body: dict[str, Any] = {"status": "ok", "database": "ok", "queue": {}}
        if not await rt.db.ping():
            body.update(status="error", database="unreachable")
            return JSONResponse(body, status_code=503)
        try:
            body["queue"] = await rt.queue.stats()
        except Exception:
            body["queue"] = {"status": "unknown"}
        body["channels"] = sorted(rt.adapters)
        return JSONResponse(body)

    expected = (f"Bearer {settings.metrics_token.get_secret_value()}".encode()
                if settings.metrics_token is not None else None)

    @app.get("/metrics", tags=["operations"])
    async def metrics(request: Request) -> Response:
        given = request.headers.get("authorization", "").encode()
        if expected is not None and not hmac.compare_digest(given, expected):
            return JSONResponse({"detail": "metrics need METRICS_TOKEN as a bearer token"},
                                status_code=401, headers={"www-authenticate": "Bearer"})
        with contextlib.suppress(Exception):  # the gauges keep their last value
            await rt.queue.stats()
        return Response(generate_latest(rt.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


def include_channel(app: FastAPI, router: APIRouter) -> None:
    """Add a channel's routes; its plain Starlette routes (the webhooks) go first.

    Webhooks take the raw request and verify it themselves, so they need none of
    FastAPI's per-route work; matched first, they skip the walk through the docs routes
    and every included router. Kept because including them in order cost 9-12 % of
    ingestion capacity (docs/internals.md, "Bypasses").
    """
    plain = [r for r in router.routes if isinstance(r, Route) and not isinstance(r, APIRoute)]
    router.routes = [r for r in router.routes if r not in plain]
    app.router.routes[0:0] = plain
    app.include_router(router)


#: how much of an invalid input a 422 echoes back
ECHO_MAX_CHARS = 200


def _excerpt(value: Any) -> Any:
    """An invalid input as a 422 shows it: as sent when short, else its first characters;
    never bytes or lone surrogates, which JSON cannot carry as UTF-8."""
    encoded = jsonable_encoder(value, custom_encoder={
        bytes: lambda b: b.decode("utf-8", "replace"),
        str: lambda s: s.encode("utf-8", "replace").decode("utf-8")})
    dumped = json.dumps(encoded, ensure_ascii=False, default=str)
    return encoded if len(dumped) <= ECHO_MAX_CHARS else dumped[:ECHO_MAX_CHARS] + "…"


async def _invalid_request(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's own 422 handler fails (a 500) when the invalid input is not UTF-8 or holds
    a lone surrogate, and echoes inputs of any size; here each is a short excerpt."""
    assert isinstance(exc, RequestValidationError)
    errors = [{**error, "input": _excerpt(error["input"])} if "input" in error else error
              for error in exc.errors()]
    return JSONResponse({"detail": jsonable_encoder(errors, custom_encoder={
        bytes: lambda b: b.decode("utf-8", "replace")})}, status_code=422)
