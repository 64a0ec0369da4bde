"""Slack through slack-bolt: events and interactivity at POST /slack/events.

bolt's `AsyncApp` verifies requests (signing secret, 5-minute window), answers
url_verification and ssl_check, and ignores the bot's own events. Plain message and
mention events of a single-token install skip bolt's dispatch (`slack_direct.py`:
the same signature check through slack-sdk, the bot's own events dropped by its
identity); anything else goes through bolt. It runs with
`process_before_response=True`, so the HTTP answer (Slack's acknowledgement) is
sent only after a listener has stored and queued the message: an acknowledged
message is never lost. Listeners do nothing else that can be slow; the reply is
sent later by the worker through `send`.

Progress is shown through the in-process `TurnObserver` hook: the Slack adapter
runs in the worker that runs the turn, so it needs no NOTIFY round trip.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any
from uuid import UUID

import psycopg
import structlog
from fastapi import APIRouter, FastAPI, Request, Response
from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler
from slack_bolt.adapter.starlette.async_handler import to_async_bolt_request, to_starlette_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization.async_authorize import AsyncInstallationStoreAuthorize
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.errors import SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.base import Ingest, SendResult
from adapters.slack_console import SlackConsole
from adapters.slack_direct import DirectEvents
from adapters.slack_events import (
    CHANNEL,
    action_to_inbound,
    classify,
    event_to_inbound,
    message_ref,
    parse_key,
)
from adapters.slack_format import ACTION_PREFIX, after_choice
from adapters.slack_send import SlackOutbound, web_client
from adapters.slack_store import PostgresInstallationStore, PostgresOAuthStateStore
from bot.db.messages import IngestResult, PendingDelivery, StoredInbound
from bot.models import EventName, InboundMessage

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = structlog.get_logger(__name__)


class SlackAdapter:
    """The Slack channel: bolt for inbound, the Web API for replies and progress."""

    name = CHANNEL
    #: progress goes through `turn_event` in the worker, not through NOTIFY
    streams_progress = False

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        s = self.settings = runtime.settings
        self._ingest: Ingest | None = None
        self._names: OrderedDict[str, str | None] = OrderedDict()
        self._learning: set[str] = set()  # users whose name is being looked up
        # Bounded: each lookup takes a pool connection twice, and a burst of new users
        # would otherwise leave acknowledgements waiting for connections.
        self._lookups = asyncio.Semaphore(s.slack_user_lookup_concurrency)
        self._tasks: set[asyncio.Task[Any]] = set()
        self.client = self.web_client(s.slack_bot_token.get_secret_value()
                                      if s.slack_bot_token and not s.slack_oauth_enabled else None)
        self.store: PostgresInstallationStore | None = None
        oauth: AsyncOAuthSettings | None = None
        authorize: AsyncInstallationStoreAuthorize | None = None
        if s.slack_oauth_enabled:
            assert s.slack_client_id and s.slack_client_secret
            self.store = PostgresInstallationStore(lambda: runtime.db, s.slack_client_id)
            oauth = AsyncOAuthSettings(
                client_id=s.slack_client_id,
                client_secret=s.slack_client_secret.get_secret_value(),
                scopes=[x.strip() for x in s.slack_scopes.split(",") if x.strip()],
                installation_store=self.store,
                state_store=PostgresOAuthStateStore(lambda: runtime.db,
                                                    s.slack_oauth_state_expiration_s),
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
        #: the support console for handoffs, when HANDOFF_SLACK_CHANNEL is set
        self.console: SlackConsole | None = None
        if s.handoff_slack_channel:
            self.console = SlackConsole(s, client_for=self.client_for, pacer=self.outbound.pacer,
                                        names=self._staff_name, handoffs=lambda: runtime.handoffs)
        self._register_listeners()
        #: plain message events, stored without bolt's dispatch (single token only)
        self.direct: DirectEvents | None = None
        if s.slack_signing_secret and self.store is None:
            self.direct = DirectEvents(
                s.slack_signing_secret.get_secret_value(), self.client, self._on_message,
                console_channel=self.console.channel if self.console is not None else None)

    def web_client(self, token: str | None) -> AsyncWebClient:
        return web_client(self.settings, token)

    async def client_for(self, team: str) -> AsyncWebClient | None:
        """The client that acts in a workspace: the bot token, or the team's installation."""
        if self.store is None:
            return self.client
        bot = await self.store.async_find_bot(enterprise_id=None, team_id=team)
        return self.web_client(bot.bot_token) if bot is not None else None

    # --- inbound
    def _register_listeners(self) -> None:
        app = self.app
        if self.console is not None:  # first: the support channel is never a conversation
            self.console.register(app)
        app.event("app_mention")(self._on_message)
        app.event("message")(self._on_message)
        app.action(re.compile(f"^{ACTION_PREFIX}"))(self._on_action)
        if self.store is not None:
            app.enable_token_revocation_listeners()  # uninstalls delete their tokens
        # Registered last: any other subscribed event is acknowledged and dropped, since
        # bolt answers unhandled requests with 404 and Slack would retry them.
        app.event(re.compile(".*"))(self._ignore)

    async def _ignore(self) -> None:
        return None

    def _known_name(self, team: str, user: str) -> str | None:
        """The sender's display name when this process already knows it (no I/O: the
        acknowledgement never waits for a lookup)."""
        key = f"{team}:{user}"
        if key in self._names:
            self._names.move_to_end(key)
        return self._names.get(key)

    async def _learn_name(self, client: AsyncWebClient, team: str, user: str,
                          contact_id: UUID) -> None:
        """After the acknowledgement: the stored name, or users.info once per user and
        process, kept on the contact when it has none."""
        key = f"{team}:{user}"
        try:
            async with self._lookups:
                name = await self._look_up_name(client, user, key, contact_id)
        except (SlackClientError, TimeoutError, psycopg.Error) as exc:
            log.info("slack_user_lookup_failed", user=user, error=type(exc).__name__)
            return  # not cached: the next message tries again
        finally:
            self._learning.discard(key)
        self._remember(key, name)

    async def _staff_name(self, client: AsyncWebClient, team: str, user: str) -> str | None:
        """A support person's name for the console (looked up now: the card shows it)."""
        key = f"{team}:{user}"
        if key in self._names:
            return self._known_name(team, user)
        try:
            name = await self._look_up_name(client, user, key, None)
        except (SlackClientError, TimeoutError, psycopg.Error) as exc:
            log.info("slack_user_lookup_failed", user=user, error=type(exc).__name__)
            return None
        self._remember(key, name)
        return name

    def _remember(self, key: str, name: str | None) -> None:
        self._names[key] = name
        while len(self._names) > self.settings.slack_user_cache_size:
            self._names.popitem(last=False)

    async def _look_up_name(self, client: AsyncWebClient, user: str, key: str,
                            contact_id: UUID | None) -> str | None:
        async with self.runtime.db.autocommit() as conn:
            cur = await conn.execute("SELECT app.contact_display_name(%s, %s) AS name",
                                     (CHANNEL, key))
            row = await cur.fetchone()
        if row is not None and row["name"] is not None:
            return str(row["name"])
        info = await asyncio.wait_for(client.users_info(user=user),
                                      self.settings.slack_user_lookup_timeout_s)
        member = info.get("user") or {}
        profile = member.get("profile") or {}
        name: str | None = (profile.get("display_name") or profile.get("real_name")
                            or member.get("real_name") or member.get("name") or None)
        if name is not None and contact_id is not None:
            async with self.runtime.db.as_user(contact_id, pipeline=True) as conn:
                await conn.execute("UPDATE app.contacts SET display_name = %s"
                                   " WHERE id = %s AND display_name IS NULL", (name, contact_id))
        return name

    async def _in_thread(self, thread_key: str) -> bool:
        """Whether the bot already talks with someone in this thread."""
        async with self.runtime.db.autocommit() as conn:
            cur = await conn.execute("SELECT app.slack_thread_known(%s) AS found",
                                     (thread_key,))
            row = await cur.fetchone()
        return bool(row and row["found"])

    async def _store(self, message: InboundMessage) -> IngestResult:
        assert self._ingest is not None, "router() wires ingestion before requests arrive"
        return await self._ingest(message)

    async def _on_message(self, body: dict[str, Any], event: dict[str, Any],
                          context: dict[str, Any], client: AsyncWebClient) -> None:
        kind = classify(event, bot_user_id=context.get("bot_user_id"),
                        bot_id=context.get("bot_id"), ignore_bots=self.settings.slack_ignore_bots)
        team = str(body.get("team_id") or event.get("team") or "")
        if kind == "ignore" or not team:
            return
        if kind == "thread" and not await self._in_thread(message_ref(team, event).thread_key):
            return
        user = str(event["user"])
        name = self._known_name(team, user)
        stored = await self._store(event_to_inbound(team, event, event_id=body.get("event_id"),
                                                    bot_user_id=context.get("bot_user_id"),
                                                    sender_name=name))
        key = f"{team}:{user}"
        if name is None and key not in self._names and key not in self._learning:
            self._learning.add(key)
            self._spawn(self._learn_name(client, team, user, stored.contact_id))

    async def _on_action(self, ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        message = action_to_inbound(body)
        if message is None:
            return
        await self._store(message)
        self._spawn(self._mark_choice(client, body, message.text))

    async def _mark_choice(self, client: AsyncWebClient, body: dict[str, Any],
                           chosen: str) -> None:
        original = body.get("message") or {}
        try:
            await client.chat_update(
                channel=body["channel"]["id"], ts=original["ts"],
                text=original.get("text") or chosen,
                blocks=after_choice(original.get("blocks") or [], chosen, body["user"]["id"]))
        except SlackClientError as exc:
            log.info("slack_choice_update_failed", error=str(exc)[:200])

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- ChannelAdapter
    def router(self, ingest: Ingest) -> APIRouter:
        self._ingest = ingest
        handler = AsyncSlackRequestHandler(self.app)
        api = APIRouter(lifespan=self._lifespan, tags=["slack"])

        async def handle(request: Request) -> Response:
            return await handler.handle(request)

        async def events(request: Request) -> Response:
            # bolt parses the body before it checks the signature: a body that is not
            # UTF-8 JSON/form (never sent by Slack) would be a 500 for anyone to trigger.
            body = await request.body()
            if self.direct is not None and await self.direct.take(body, request.headers):
                return Response(status_code=200)
            try:
                bolt_request = to_async_bolt_request(request, body)
            except (ValueError, TypeError, AttributeError, KeyError):
                # not UTF-8, not JSON, or fields of the wrong type ("user": 0) that bolt's
                # context extraction trips on while building the request
                return Response("malformed request", status_code=400)
            payload = bolt_request.body
            # bolt's middleware fails (a 500) on an "event" that is not an object
            event = payload.get("event", {}) if isinstance(payload, dict) else None
            if not isinstance(event, dict) or (payload.get("type") == "event_callback"
                                               and "event" not in payload):
                return Response("malformed request", status_code=400)
            return to_starlette_response(await self.app.async_dispatch(bolt_request))

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
            async with self.runtime.db.in_one_trip(message.contact_id) as unit:
                found = unit.add(
                    "SELECT m.raw->>'conversation_key' AS key, ci.external_id AS sender"
                    " FROM app.messages m LEFT JOIN app.channel_identities ci"
                    " ON ci.contact_id = m.contact_id AND ci.channel = m.channel"
                    " WHERE m.id = %s", (message.id,))
            row = found.one()
            if row is None or not row["key"]:
                return
            self.outbound.start_turn(message.id, parse_key(row["key"]), row["sender"])
        self.outbound.turn_event(message.id, event, data)

    async def send(self, delivery: PendingDelivery) -> SendResult:
        return await self.outbound.send(delivery)

    async def was_sent(self, delivery: PendingDelivery) -> bool | None:
        return await self.outbound.was_sent(delivery)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self.console is not None:
            await self.console.aclose()
        await self.outbound.aclose()
