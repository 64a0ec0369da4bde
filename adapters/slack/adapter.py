"""Slack through slack-bolt: events and interactivity at POST /slack/events.

bolt's `AsyncApp` verifies requests (signing secret, 5-minute window), answers
url_verification and ssl_check, and ignores the bot's own events. Plain message and
mention events of a single-token install skip bolt's dispatch (`direct.py`: the same
signature check through slack-sdk, the bot's own events dropped by its identity); anything
else goes through bolt. It runs with `process_before_response=True`, so the HTTP answer
(Slack's acknowledgement) is sent only after a listener has stored and queued the message:
an acknowledged message is never lost. The reply is sent later by the worker (`send`).

Progress is shown through the in-process `TurnObserver` hook: the Slack adapter runs in
the worker that runs the turn, so it needs no NOTIFY round trip.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import APIRouter, FastAPI, Request, Response
from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler
from slack_bolt.adapter.starlette.async_handler import to_async_bolt_request, to_starlette_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization.async_authorize import AsyncInstallationStoreAuthorize
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import store
from adapters.slack.console import SlackConsole
from adapters.slack.direct import DirectEvents
from adapters.slack.events import CHANNEL, parse_key
from adapters.slack.format import ACTION_PREFIX
from adapters.slack.inbound import SlackListeners
from adapters.slack.names import UserNames
from adapters.slack.outbound import SlackOutbound, web_client
from adapters.slack.store import PostgresInstallationStore, PostgresOAuthStateStore
from bot.channels import (
    ChannelDeps,
    ChannelTraits,
    Ingest,
    ProvidesConsole,
    SendResult,
    TurnObserver,
)
from bot.handoff.console import HandoffConsole
from bot.models import EventName, PendingDelivery, StoredInbound

log = structlog.get_logger(__name__)


class SlackAdapter(TurnObserver, ProvidesConsole):
    """The Slack channel: bolt for inbound, the Web API for replies and progress."""

    name = CHANNEL
    #: progress goes through `turn_event` in the worker, not through NOTIFY
    streams_progress = False
    traits = ChannelTraits()

    def __init__(self, deps: ChannelDeps) -> None:
        s = self.settings = deps.settings
        self.db = deps.db
        self.client = self.web_client(s.slack_bot_token.get_secret_value()
                                      if s.slack_bot_token and not s.slack_oauth_enabled else None)
        self.store: PostgresInstallationStore | None = None
        oauth: AsyncOAuthSettings | None = None
        authorize: AsyncInstallationStoreAuthorize | None = None
        if s.slack_oauth_enabled:
            assert s.slack_client_id and s.slack_client_secret
            self.store = PostgresInstallationStore(deps.db, s.slack_client_id)
            oauth = AsyncOAuthSettings(
                client_id=s.slack_client_id,
                client_secret=s.slack_client_secret.get_secret_value(),
                scopes=[x.strip() for x in s.slack_scopes.split(",") if x.strip()],
                installation_store=self.store,
                state_store=PostgresOAuthStateStore(deps.db, s.slack_oauth_state_expiration_s),
                install_path="/slack/install", redirect_uri_path="/slack/oauth_redirect",
            )
            # bolt's default for an installation store calls auth.test on every event,
            # before the acknowledgement; with the cache, once per token and process.
            # The installation itself is still read per event, so an uninstall is seen.
            authorize = AsyncInstallationStoreAuthorize(
                installation_store=self.store, client_id=s.slack_client_id,
                client_secret=s.slack_client_secret.get_secret_value(),
                logger=logging.getLogger("slack_bolt"), client=self.client, cache_enabled=True)
        self.app = AsyncApp(
            name="bot", logger=logging.getLogger("slack_bolt"), client=self.client,
            signing_secret=(s.slack_signing_secret.get_secret_value()
                            if s.slack_signing_secret else "unused-in-socket-mode"),
            # bolt takes an AsyncAuthorize instance here too (its hint names only functions)
            oauth_settings=oauth, authorize=authorize,  # type: ignore[arg-type]
            process_before_response=True,
        )
        self.outbound = SlackOutbound(s, self.client_for)
        names = UserNames(s, deps.db)
        self.listeners = SlackListeners(s, deps.db, names)
        self._console: SlackConsole | None = None
        if s.handoff_slack_channel:
            self._console = SlackConsole(s, client_for=self.client_for,
                                         pacer=self.outbound.pacer, names=names,
                                         staff=deps.staff)
        self._register_listeners()
        #: plain message events, stored without bolt's dispatch (single token only)
        self.direct: DirectEvents | None = None
        if s.slack_signing_secret and self.store is None:
            self.direct = DirectEvents(
                s.slack_signing_secret.get_secret_value(), self.client,
                self.listeners.on_message,
                console_channel=self._console.channel if self._console is not None else None)

    @property
    def console(self) -> HandoffConsole | None:
        """The support console for handoffs, when HANDOFF_SLACK_CHANNEL is set."""
        return self._console

    def web_client(self, token: str | None) -> AsyncWebClient:
        return web_client(self.settings, token)

    async def client_for(self, team: str) -> AsyncWebClient | None:
        """The client that acts in a workspace: the bot token, or the team's installation."""
        if self.store is None:
            return self.client
        bot = await self.store.async_find_bot(enterprise_id=None, team_id=team)
        return self.web_client(bot.bot_token) if bot is not None else None

    def _register_listeners(self) -> None:
        app, listeners = self.app, self.listeners
        if self._console is not None:  # first: the support channel is never a conversation
            self._console.register(app)
        app.event("app_mention")(listeners.on_message)
        app.event("message")(listeners.on_message)
        app.action(re.compile(f"^{ACTION_PREFIX}"))(listeners.on_action)
        if self.store is not None:
            app.enable_token_revocation_listeners()  # uninstalls delete their tokens
        # Registered last: any other subscribed event, interaction or command is
        # acknowledged (a command politely answered) and dropped, since bolt answers
        # unhandled requests with 404: Slack retries events and shows people an error.
        anything = re.compile(".*")
        app.event(anything)(listeners.ignore)
        app.action(anything)(listeners.acknowledge)
        app.view({"type": "view_submission", "callback_id": anything})(listeners.acknowledge)
        app.view({"type": "view_closed", "callback_id": anything})(listeners.acknowledge)
        app.shortcut(anything)(listeners.acknowledge)
        app.options(anything)(listeners.no_options)
        app.command(anything)(listeners.unknown_command)

    def router(self, ingest: Ingest) -> APIRouter:
        self.listeners.ingest = ingest
        handler = AsyncSlackRequestHandler(self.app)
        api = APIRouter(lifespan=self._lifespan, tags=["slack"])

        async def handle(request: Request) -> Response:
            return await handler.handle(request)

        async def events(request: Request) -> Response:
            # bolt parses the body before it checks the signature: a body that is not
            # UTF-8 JSON/form (never sent by Slack) would be a 500 for anyone to trigger.
            body = await request.body()
            stamps = request.headers.getlist("x-slack-request-timestamp")
            signatures = request.headers.getlist("x-slack-signature")
            if not (len(stamps) == 1 == len(signatures) and stamps[0].isascii()
                    and stamps[0].isdigit() and signatures[0].isascii()):
                # slack_sdk's verifier raises on these (int() of the timestamp), which bolt
                # answered with a 500, and a repeated header is read differently by bolt
                # and by us: unsigned requests like any other
                return Response("invalid request", status_code=401)
            if self.direct is not None and await self.direct.take(body, request.headers):
                return Response(status_code=200)
            try:
                bolt_request = to_async_bolt_request(request, body)
            except (ValueError, TypeError, AttributeError, KeyError, RecursionError):
                # not UTF-8, not JSON, or fields of the wrong type ("user": 0) that bolt's
                # context extraction trips on while building the request
                return Response("malformed request", status_code=400)
            payload = bolt_request.body
            # bolt's middleware fails (a 500) on an "event" that is not an object
            event = payload.get("event", {}) if isinstance(payload, dict) else None
            if not isinstance(event, dict) or (payload.get("type") == "event_callback"
                                               and "event" not in payload):
                return Response("malformed request", status_code=400)
            response = await self.app.async_dispatch(bolt_request)
            if response.status == 404 and payload.get("type") != "url_verification":
                # a request no listener matches (a type newer than this code): Slack
                # shows the person an error unless it is acknowledged
                log.info("slack_request_unhandled", type=payload.get("type"))
                return Response(status_code=200)
            return to_starlette_response(response)

        if self.settings.slack_signing_secret:
            # a plain route: served before the app's other routes (bot.app.include_channel)
            api.add_route("/slack/events", events, methods=["POST"])
        if self.settings.slack_oauth_enabled:
            api.add_api_route("/slack/install", handle, methods=["GET"])
            api.add_api_route("/slack/oauth_redirect", handle, methods=["GET"])
        return api

    @asynccontextmanager
    async def _lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        if not self.settings.slack_socket_mode:
            yield
            return
        async with self.socket_mode():
            yield

    @asynccontextmanager
    async def socket_mode(self) -> AsyncIterator[None]:
        """Receive events over a Socket Mode connection (no public URL needed)."""
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        assert self.settings.slack_app_token is not None
        socket = AsyncSocketModeHandler(self.app, self.settings.slack_app_token.get_secret_value())
        await socket.connect_async()  # type: ignore[no-untyped-call]
        log.info("slack_socket_mode_connected")
        try:
            yield
        finally:
            await socket.close_async()  # type: ignore[no-untyped-call]

    async def turn_event(self, message: StoredInbound, event: EventName,
                         data: dict[str, Any]) -> None:
        if not self.outbound.knows(message.id):
            target = await store.turn_target(self.db, message)
            if target is None:
                return
            self.outbound.start_turn(message.id, parse_key(target[0]), target[1])
        self.outbound.turn_event(message.id, event, data)

    async def send(self, delivery: PendingDelivery) -> SendResult:
        return await self.outbound.send(delivery)

    async def was_sent(self, delivery: PendingDelivery) -> bool | None:
        return await self.outbound.was_sent(delivery)

    async def aclose(self) -> None:
        self.listeners.cancel()
        if self._console is not None:
            await self._console.aclose()
        await self.outbound.aclose()
