"""The client's address, in one place: the socket's peer, or what a trusted proxy says.

uvicorn's `ProxyHeadersMiddleware` (X-Forwarded-For, X-Forwarded-Proto) runs inside the
app, configured from TRUSTED_PROXIES (default: trust nobody), and `bot serve` turns
uvicorn's own copy of it off: by default that one trusts 127.0.0.1, so any client on the
host could choose its address and so its rate-limit bucket. Before rewriting, the socket's
peer is kept in the scope, so a check that must know who really connected (whether the
request came through a trusted proxy, for Twilio's public URL) still can.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

SOCKET_PEER = "bot.socket_peer"


class TrustedProxies:
    def __init__(self, app: ASGIApp, trusted: list[str]) -> None:
        self.app = app
        # uvicorn types its ASGI callables more narrowly than Starlette; the protocol is one
        self.rewrite = (ProxyHeadersMiddleware(app, trusted_hosts=trusted)  # type: ignore[arg-type]
                        if trusted else None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            client = scope.get("client")
            scope[SOCKET_PEER] = client[0] if client else None
        if self.rewrite is None:
            await self.app(scope, receive, send)
        else:
            await self.rewrite(scope, receive, send)  # type: ignore[arg-type]


def socket_peer(request: Request) -> str | None:
    """Who opened the connection (a proxy, when there is one)."""
    peer = request.scope.get(SOCKET_PEER)
    if peer is not None:
        return str(peer)
    return request.client.host if request.client else None
