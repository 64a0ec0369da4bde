"""The admin dashboard at /admin: conversations, handoff console, charts, JSON API.

Mounted only when ADMIN_TOKEN is set; never open by default.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter

from bot.admin.api import build_api
from bot.admin.auth import AdminAuth
from bot.admin.pages import build_pages

if TYPE_CHECKING:
    from bot.runtime import Runtime


def build_admin(runtime: Runtime) -> APIRouter:
    """Pages and JSON API of the dashboard for one runtime."""
    auth = AdminAuth(runtime.settings)
    router = APIRouter()
    router.include_router(build_pages(runtime, auth))
    router.include_router(build_api(runtime, auth))
    return router
