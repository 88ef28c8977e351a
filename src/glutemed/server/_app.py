"""The FastAPI application factory.

``create_app(settings)`` builds one app: database engine (migrated to the newest schema unless
``auto_migrate`` is off), the knowledge base, templates, the JSON API (``/api/v1``), the pages,
the FHIR / CDS Hooks routers (``/fhir``, ``/cds-services``), security headers and a request log
that records only method, route template, status and duration (never query strings, which hold
search words such as names).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from threadpoolctl import threadpool_limits

from glutemed import __version__, store
from glutemed.knowledge import load_kb
from glutemed.server._deps import AppState, Auth, CurrentAuth, State, optional_auth
from glutemed.server._problems import install_problem_handlers
from glutemed.server._settings import Settings

__all__ = ["app_from_env", "create_app"]

log = logging.getLogger("glutemed.server")
access_log = logging.getLogger("glutemed.server.access")

_HERE = Path(__file__).parent

_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'self'; object-src 'none'"
)


def _pose_assets_dir() -> Path | None:
    """Folder of the browser pose files, or None when the motion layer is not installed."""
    try:
        from glutemed.motion.video import BROWSER_ASSETS_DIR
    except ImportError:
        return None
    return BROWSER_ASSETS_DIR if BROWSER_ASSETS_DIR.is_dir() else None


def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(_HERE / "templates"))
    templates.env.globals["app_version"] = __version__
    return templates


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the glutemed web app.

    Parameters
    ----------
    settings
        Default: :meth:`Settings.from_env` (``GLUTEMED_*`` environment variables), which refuses
        a missing or default secret key outside development.

    Returns
    -------
    FastAPI
        An ASGI app; serve it with uvicorn (``glutemed serve`` does).
    """
    settings = settings or Settings.from_env()
    url = store.normalise_database_url(settings.database_url or store.default_database_url())
    if settings.auto_migrate:
        store.upgrade_to_head(url)
    engine = store.make_engine(url)
    kb = load_kb(settings.kb_folder or None)
    state = AppState(
        settings=settings,
        engine=engine,
        sessions=store.make_sessionmaker(engine),
        kb=kb,
        templates=_templates(),
    )
    app = FastAPI(
        title="glutemed",
        version=__version__,
        summary="Decision support for lateral hip pain: records, assessment, plans, outcomes.",
        description=(
            "JSON API of the glutemed clinician app. Log in with `POST /api/v1/auth/login`; send "
            "the returned `csrf_token` in the `X-CSRF-Token` header of every POST, PUT, PATCH and "
            "DELETE. Edits carry the `version` they read (409 Conflict if it changed). Errors are "
            "`application/problem+json` whose `problems` name each field at fault. Decision "
            "support for clinicians; it does not replace clinical judgement."
        ),
        openapi_url="/api/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=_lifespan(state),
    )
    app.state.glutemed = state
    install_problem_handlers(app)
    from glutemed.server._fhir_routes import CdsCorsMiddleware
    from glutemed.server._limits import RequestGate

    app.add_middleware(RequestGate)
    app.add_middleware(CdsCorsMiddleware)
    app.add_middleware(
        SecurityHeadersAndLog,
        hsts=settings.environment == "production" and settings.cookie_secure,
    )
    if settings.trusted_proxies.strip():
        from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    pose_assets = _pose_assets_dir()
    if pose_assets is not None:
        # The in-browser pose model (motion layer's web folder), served with the app: no CDN.
        app.mount("/static/pose", StaticFiles(directory=str(pose_assets)), name="pose")
    app.mount("/static", StaticFiles(directory=str(_HERE / "static")), name="static")

    from glutemed.server._adherence import api_router as adherence_api
    from glutemed.server._adherence import pages_router as adherence_pages
    from glutemed.server._api import router as api_router
    from glutemed.server._fhir_routes import cds_router, ehr_router, fhir_router
    from glutemed.server._pages import router as pages_router
    from glutemed.server._programmes import api_router as programmes_api
    from glutemed.server._programmes import pages_router as programmes_pages

    app.include_router(api_router)
    app.include_router(programmes_api)
    app.include_router(programmes_pages)
    app.include_router(adherence_api)
    app.include_router(adherence_pages)
    app.include_router(fhir_router)
    app.include_router(cds_router)
    app.include_router(ehr_router)
    app.include_router(pages_router)

    @app.get("/healthz", tags=["health"], summary="Liveness and database check (no login)")
    def healthz(state: State, auth: Annotated[Auth | None, Depends(optional_auth)]) -> JSONResponse:
        """Anonymous callers learn only whether the app and its database answer; logged-in
        users also see the database type, schema and versions."""
        try:
            with state.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            db_ok = True
        except sa.exc.SQLAlchemyError:
            db_ok = False
        body: dict[str, Any] = {"status": "ok" if db_ok else "database unavailable"}
        if auth is not None:
            body.update(
                database=state.engine.dialect.name,
                schema=store.head_revision(),
                versions=state.kb.versions(),
            )
        return JSONResponse(body, status_code=200 if db_ok else 503)

    @app.get("/api/v1/docs", include_in_schema=False, response_class=HTMLResponse)
    def api_docs(request: Request, state: State, auth: CurrentAuth) -> Response:
        schema = app.openapi()
        ops = []
        for path, methods in schema.get("paths", {}).items():
            for method, op in methods.items():
                ops.append(
                    {
                        "method": method.upper(),
                        "path": path,
                        "summary": op.get("summary", ""),
                        "tags": op.get("tags", []),
                        "description": op.get("description", ""),
                    }
                )
        response: Response = state.templates.TemplateResponse(
            request,
            "api_docs.html",
            {
                "ops": ops,
                "auth": auth,
                "csrf_token": auth.csrf_token,
                "versions": state.kb.versions(),
                "info": schema.get("info", {}),
                "flash": None,
            },
        )
        return response

    log.info("glutemed app ready (database %s, knowledge base %s)", engine.dialect.name, kb.version)
    return app


def _lifespan(state: AppState) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Each request is a small computation and the worker processes are the parallelism:
        # BLAS worker threads would only spin beside them (glutemed.reasoning._blas). Set once
        # here, in the worker's main thread: with OpenBLAS 0.3.31, a count lowered from another
        # thread did not take effect once the main thread had set one.
        threadpool_limits(limits=1, user_api="blas")
        yield
        state.dispose()

    return lifespan


_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy", _CSP.encode()),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


#: HTTP Strict Transport Security (production with Secure cookies): browsers use HTTPS only.
_HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")


class SecurityHeadersAndLog:
    """Pure ASGI middleware: security headers, ``no-store`` caching, and the request log.

    With ``hsts`` (production mode with Secure cookies) every answer also carries
    ``Strict-Transport-Security``.

    The log line has the method, the route *template* (``/patients/{patient_id}``), the status
    and the duration; never the query string (search words) or identifiers.
    """

    def __init__(self, app: ASGIApp, *, hsts: bool = False) -> None:
        self.app = app
        self.headers = _SECURITY_HEADERS + ([_HSTS] if hsts else [])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        static = scope["path"].startswith("/static/")
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in self.headers if k not in present]
                if not static and b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            route: Any = scope.get("route")
            access_log.info(
                "%s %s %d %.1fms",
                scope.get("method", "-"),
                getattr(route, "path", "-"),
                status,
                (time.perf_counter() - start) * 1000,
            )


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory glutemed.server._app:app_from_env`` (server workers)."""
    return create_app(Settings.from_env())
