"""The dashboard's HTML: the login form, page shells and their static assets.

Pages are static shells; the browser fills them from the JSON API (admin.js) and
draws the charts as SVG (charts.js). Nothing personal is rendered server-side, and
the only values substituted are the staff name and the CSRF token, escaped.
"""

from __future__ import annotations

import html
from functools import cache
from pathlib import Path
from uuid import UUID

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from limits import parse

from bot.admin.auth import AdminAuth
from bot.admin.deps import AdminDeps
from bot.db.audit import audit

STATIC = Path(__file__).parent / "static"
ASSETS = {"admin.js": "text/javascript", "charts.js": "text/javascript",
          "admin.css": "text/css"}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
        " frame-ancestors 'none'; form-action 'self'"),
    "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store",
}


@cache
def _template(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")


def _page(name: str, **values: str) -> str:
    text = _template(name)
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", html.escape(value, quote=True))
    return text


def build_pages(deps: AdminDeps, auth: AdminAuth) -> APIRouter:
    """Login, logout and the three pages: overview, conversation, handoff queue."""
    pages = APIRouter(prefix="/admin", include_in_schema=False)
    # Guessing the token is throttled per client IP and per staff name with the process's
    # rate limiter (shared across processes through REDIS_URL).
    login_limit = parse(deps.settings.admin_login_rate_limit)

    def login_form(error: str = "", status_code: int = 200) -> HTMLResponse:
        response = HTMLResponse(status_code=status_code, headers=SECURITY_HEADERS)
        nonce = auth.login_nonce(response)
        response.body = _page("login.html", nonce=nonce, error=error).encode()
        response.headers["content-length"] = str(len(response.body))
        return response

    async def shell(request: Request, page: str, subject: str = "") -> Response:
        session = await auth.session(request)
        if session is None:
            return RedirectResponse("/admin/login", status_code=303)
        body = _page("app.html", page=page, subject=subject, staff=session.staff,
                     csrf=session.csrf)
        return HTMLResponse(body, headers=SECURITY_HEADERS)

    @pages.get("/login")
    async def login_page() -> HTMLResponse:
        return login_form()

    @pages.post("/login")
    async def login(request: Request, token: str = Form(""), staff: str = Form(""),
                    nonce: str = Form("")) -> Response:
        staff = staff.strip()
        client = request.client.host if request.client else "unknown"
        if not await deps.rate_limits.limiter.hit(login_limit, "admin_login", client):
            return login_form("Too many attempts; wait a minute and try again.", 429)
        if not auth.login_nonce_matches(request, nonce):
            return login_form("Your login form expired; please try again.", 403)
        if not auth.valid_staff_name(staff):
            return login_form("Enter your name (letters, digits, spaces; up to 40).", 400)
        # per name too: guesses spread over many addresses still count against the name
        if not await deps.rate_limits.limiter.hit(login_limit, "admin_login_staff",
                                                  staff.casefold()):
            return login_form("Too many attempts; wait a minute and try again.", 429)
        ok = auth.token_matches(token)
        async with deps.db.as_system() as conn:
            await audit(conn, contact_id=None, actor=f"admin:{staff}",
                        action="admin:login" if ok else "admin:login_failed", detail={})
        deps.metrics.admin_actions.labels("login" if ok else "login_failed").inc()
        if not ok:
            return login_form("That token is not right.", 401)
        response = RedirectResponse("/admin", status_code=303)
        auth.start_session(response, staff)
        return response

    @pages.post("/logout")
    async def logout(request: Request, csrf: str = Form("")) -> Response:
        session = await auth.session(request)
        response = RedirectResponse("/admin/login", status_code=303)
        if session is not None and csrf == session.csrf:
            await auth.end_session(response, session)
            async with deps.db.as_system() as conn:
                await audit(conn, contact_id=None, actor=f"admin:{session.staff}",
                            action="admin:logout", detail={})
        return response

    @pages.get("")
    async def overview(request: Request) -> Response:
        return await shell(request, "overview")

    @pages.get("/handoffs")
    async def handoff_queue(request: Request) -> Response:
        return await shell(request, "handoffs")

    @pages.get("/conversations/{conversation_id}")
    async def conversation(request: Request, conversation_id: UUID) -> Response:
        return await shell(request, "conversation", str(conversation_id))

    @pages.get("/static/{name}")
    async def asset(name: str) -> Response:
        if name not in ASSETS:
            return Response(status_code=404)
        return FileResponse(STATIC / name, media_type=ASSETS[name],
                            headers={"Cache-Control": "no-cache",
                                     "X-Content-Type-Options": "nosniff"})

    return pages
