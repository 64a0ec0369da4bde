"""The admin dashboard at /admin: conversations, handoff console, charts, JSON API.

Mounted only when ADMIN_TOKEN is set; never open by default.
"""

from __future__ import annotations

from fastapi import APIRouter

from bot.admin.api import build_api
from bot.admin.auth import AdminAuth
from bot.admin.deps import AdminDeps
from bot.admin.pages import build_pages

__all__ = ["AdminDeps", "build_admin"]


def build_admin(deps: AdminDeps) -> APIRouter:
    """Pages and JSON API of the dashboard."""
    auth = AdminAuth(deps.settings, deps.db)
    router = APIRouter()
    router.include_router(build_pages(deps, auth))
    router.include_router(build_api(deps, auth))
    return router
