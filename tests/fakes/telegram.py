"""A loopback Telegram Bot API server (aiohttp on 127.0.0.1, in a background thread).

It follows the wire facts of shared/reference/integrations.md section 4 (Bot API 10.0, as
python-telegram-bot 22.8 reads them), not our client:

- ``POST|GET /bot<token>/<method>`` with parameters in the query string, a JSON body or
  a form; method names are case-insensitive, as Telegram's are;
- every answer is ``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code": N,
  "description": "...", "parameters": {"retry_after": s, "migrate_to_chat_id": id}}``;
- a token the server does not know answers 401 ``Unauthorized``; a path that is not
  ``/bot<token>/<method>``, or an unknown method, 404 ``Not Found``;
- ``getUpdates(offset, limit 1-100, timeout, allowed_updates)``: updates stay until a
  later call confirms them with ``offset`` > their id (a negative offset keeps the last
  -offset); ``timeout`` holds the request until an update comes; ``allowed_updates`` is
  remembered (omitted: the previous setting). 409 ``Conflict: can't use getUpdates method
  while webhook is active`` when a webhook is set, and 409 ``Conflict: terminated by
  other getUpdates request`` to a poll still waiting when another one starts;
- ``setWebhook`` (HTTPS, ports 443/80/88/8443, ``secret_token`` 1-256 of
  ``[A-Za-z0-9_-]``), ``deleteWebhook``, ``getWebhookInfo``, ``getMe``;
- ``sendMessage`` (text 1-4096 characters; an unknown chat is 400 ``chat not found``; a
  migrated group 400 with ``migrate_to_chat_id``; a user who blocked the bot 403), with
  Telegram's flood limits: more than ``per_chat_per_second`` messages to one chat, or
  ``per_second`` overall, within a second is 429 ``Too Many Requests: retry after N``;
- faults injected per method (:meth:`FakeTelegram.fail_next`): any error code with any
  parameters, e.g. a 429 with ``retry_after``.

Tests make posts with :meth:`FakeTelegram.channel_post`, :meth:`group_message` and
:meth:`edit`, which queue the update Telegram would send (``channel_post``,
``message``, ``edited_channel_post``, ``edited_message``), and build the webhook POST
Telegram would make with :meth:`webhook_delivery`.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from aiohttp import web

from tests.fakes.aiohttp_thread import ThreadedAiohttpServer

UPDATE_TYPES = (
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "inline_query",
    "chosen_inline_result",
    "callback_query",
    "shipping_query",
    "pre_checkout_query",
    "poll",
    "poll_answer",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
    "chat_boost",
    "removed_chat_boost",
    "message_reaction",
    "message_reaction_count",
)
#: ``allowed_updates=[]`` means every type but these (integrations.md section 4).
NOT_BY_DEFAULT = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
WEBHOOK_PORTS = frozenset({443, 80, 88, 8443})
SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
PATH = re.compile(r"/bot(?P<token>[^/]+)/(?P<method>[A-Za-z]+)")
MAX_TEXT = 4096


@dataclass
class Chat:
    id: int
    type: str  # "channel" | "supergroup" | "group" | "private"
    title: str = ""
    username: str | None = None
    next_message_id: int = 1
    migrated_to: int | None = None
    blocked: bool = False

    def json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.type == "private":
            out["first_name"] = self.title or "User"
        else:
            out["title"] = self.title or f"chat {self.id}"
        if self.username:
            out["username"] = self.username
        return out


@dataclass
class Fault:
    method: str
    error_code: int
    description: str
    parameters: dict[str, Any] | None
    remaining: int


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float
    token: str


@dataclass
class Bot:
    token: str
    username: str
    updates: list[dict[str, Any]] = field(default_factory=list)
    next_update_id: int = 100_000
    allowed_updates: tuple[str, ...] = ()
    webhook_url: str = ""
    webhook_secret: str | None = None
    webhook_allowed: tuple[str, ...] = ()
    max_connections: int = 40
    polling: asyncio.Future[None] | None = None
    sent: list[dict[str, Any]] = field(default_factory=list)
    sends: deque[tuple[float, int]] = field(default_factory=deque)

    @property
    def id(self) -> int:
        return int(self.token.split(":", 1)[0])


class ApiError(Exception):
    def __init__(self, code: int, description: str, **parameters: Any) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


class FakeTelegram(ThreadedAiohttpServer):
    """One fake Bot API with one bot (``token``) or more (:meth:`add_bot`).

    A client takes ``base_url`` as its API URL (``<base_url>/bot<token>/<method>``).
    """

    name = "fake Telegram"

    def __init__(
        self,
        token: str = "123456789:AAHfakefakefakefakefakefakefakefake0",
        *,
        per_chat_per_second: int = 1,
        per_second: int = 30,
        max_long_poll: float = 50.0,
    ) -> None:
        super().__init__()
        self.bots: dict[str, Bot] = {}
        self.chats: dict[int, Chat] = {}
        self.calls: list[Call] = []
        self.faults: list[Fault] = []
        self.per_chat_per_second = per_chat_per_second
        self.per_second = per_second
        self.max_long_poll = max_long_poll
        self.token = token
        self.add_bot(token)
        self._lock = threading.RLock()
        self._news: asyncio.Event | None = None
        self._date = int(time.time())

    def _configure(self, app: web.Application) -> None:
        self._news = asyncio.Event()  # wakes long polls when an update arrives

    # -- the world: bots, chats, posts ------------------------------------------------

    def add_bot(self, token: str, username: str = "signal_bot") -> Bot:
        bot = Bot(token=token, username=username)
        self.bots[token] = bot
        return bot

    @property
    def bot(self) -> Bot:
        return self.bots[self.token]

    def chat(self, chat_id: int, type_: str = "channel", **fields: Any) -> Chat:
        with self._lock:
            chat = self.chats.get(chat_id)
            if chat is None:
                chat = self.chats[chat_id] = Chat(chat_id, type_, **fields)
            return chat

    def channel_post(
        self,
        chat_id: int,
        text: str | None = None,
        *,
        caption: str | None = None,
        reply_to: int | None = None,
        token: str | None = None,
    ) -> dict[str, Any]:
        """A post in a channel the bot administers; with ``caption`` a photo post."""
        chat = self.chat(chat_id, "channel")
        message = self._message(chat, text, caption=caption, reply_to=reply_to)
        message["sender_chat"] = chat.json()
        self.add_update({"channel_post": message}, token=token)
        return message

    def group_message(
        self,
        chat_id: int,
        text: str | None = None,
        *,
        caption: str | None = None,
        reply_to: int | None = None,
        user_id: int = 4242,
        token: str | None = None,
    ) -> dict[str, Any]:
        """A member's message in a (super)group the bot is in."""
        chat = self.chat(chat_id, "supergroup")
        message = self._message(chat, text, caption=caption, reply_to=reply_to)
        message["from"] = {"id": user_id, "is_bot": False, "first_name": "Trader"}
        self.add_update({"message": message}, token=token)
        return message

    def edit(
        self, chat_id: int, message_id: int, text: str, *, token: str | None = None
    ) -> dict[str, Any]:
        """An edit of an earlier message: ``edited_channel_post`` in a channel,
        ``edited_message`` elsewhere, with ``edit_date``."""
        chat = self.chats[chat_id]
        self._date = int(time.time())  # Telegram dates: whole seconds, now
        message: dict[str, Any] = {
            "message_id": message_id,
            "date": self._date - 60,
            "edit_date": self._date,
            "chat": chat.json(),
            "text": text,
        }
        kind = "edited_channel_post" if chat.type == "channel" else "edited_message"
        if chat.type == "channel":
            message["sender_chat"] = chat.json()
        else:
            message["from"] = {"id": 4242, "is_bot": False, "first_name": "Trader"}
        self.add_update({kind: message}, token=token)
        return message

    def add_update(self, body: dict[str, Any], *, token: str | None = None) -> dict[str, Any]:
        """Queue an update (its ``update_id`` is assigned here) for the bot."""
        with self._lock:
            bot = self.bots[token or self.token]
            update = {"update_id": bot.next_update_id, **body}
            bot.next_update_id += 1
            bot.updates.append(update)
        loop, news = self._loop, self._news
        if loop is not None and news is not None:
            loop.call_soon_threadsafe(news.set)
        return update

    def _message(
        self, chat: Chat, text: str | None, *, caption: str | None, reply_to: int | None
    ) -> dict[str, Any]:
        with self._lock:
            message_id = chat.next_message_id
            chat.next_message_id += 1
            self._date = int(time.time())  # Telegram dates: whole seconds, now
        message: dict[str, Any] = {
            "message_id": message_id,
            "date": self._date,
            "chat": chat.json(),
        }
        if text is not None:
            message["text"] = text
        if caption is not None:
            message["photo"] = [
                {
                    "file_id": f"AgAC{message_id}",
                    "file_unique_id": f"u{message_id}",
                    "width": 90,
                    "height": 90,
                    "file_size": 1200,
                },
            ]
            message["caption"] = caption
        if reply_to is not None:
            message["reply_to_message"] = {
                "message_id": reply_to,
                "date": self._date - 30,
                "chat": chat.json(),
                "text": "(the message answered)",
            }
        return message

    def webhook_delivery(
        self, update: dict[str, Any], *, token: str | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """The body and headers of the POST Telegram makes to the bot's webhook."""
        bot = self.bots[token or self.token]
        headers = {"Content-Type": "application/json"}
        if bot.webhook_secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = bot.webhook_secret
        return json.dumps(update).encode(), headers

    def pending(self, token: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.bots[token or self.token].updates)

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method.lower() == method.lower()]

    def fail_next(
        self,
        method: str,
        error_code: int,
        description: str,
        *,
        count: int = 1,
        **parameters: Any,
    ) -> None:
        """The next ``count`` calls of ``method`` answer this error (before anything else)."""
        with self._lock:
            self.faults.append(
                Fault(method.lower(), error_code, description, parameters or None, count)
            )

    # -- HTTP ----------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        match = PATH.fullmatch(request.path)
        if match is None:
            return _error(404, "Not Found")
        token, method = match.group("token"), match.group("method").lower()
        bot = self.bots.get(token)
        if bot is None:
            return _error(401, "Unauthorized")
        try:
            params = await _params(request)
        except ApiError as exc:
            return _error(exc.code, exc.description, exc.parameters)
        self.calls.append(Call(method, params, time.time(), token))
        fault = self._fault(method)
        if fault is not None:
            return _error(fault.error_code, fault.description, fault.parameters)
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return _error(404, "Not Found")
        try:
            result = await handler(bot, params)
        except ApiError as exc:
            return _error(exc.code, exc.description, exc.parameters)
        return web.json_response({"ok": True, "result": result})

    def _fault(self, method: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.method == method and fault.remaining > 0:
                    fault.remaining -= 1
                    return fault
        return None

    # -- methods -------------------------------------------------------------------------

    async def _m_getme(self, bot: Bot, params: dict[str, Any]) -> Any:
        return {
            "id": bot.id,
            "is_bot": True,
            "first_name": "Signals",
            "username": bot.username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def _m_getupdates(self, bot: Bot, params: dict[str, Any]) -> Any:
        if bot.webhook_url:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use "
                "deleteWebhook to delete the webhook first",
            )
        offset = _int(params.get("offset"), "offset", default=0)
        limit = min(max(_int(params.get("limit"), "limit", default=100), 1), 100)
        timeout = max(float(_int(params.get("timeout"), "timeout", default=0)), 0.0)
        if "allowed_updates" in params:
            bot.allowed_updates = _allowed_updates(params["allowed_updates"])
        if bot.polling is not None and not bot.polling.done():
            bot.polling.set_exception(
                ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure "
                    "that only one bot instance is running",
                )
            )
        mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        bot.polling = mine
        try:
            self._confirm(bot, offset)
            deadline = time.monotonic() + min(timeout, self.max_long_poll)
            while True:
                found = self._deliverable(bot)[:limit]
                left = deadline - time.monotonic()
                if found or left <= 0:
                    if mine.done() and mine.exception() is not None:
                        raise mine.exception()  # type: ignore[misc]
                    return found
                assert self._news is not None
                self._news.clear()
                waiter: asyncio.Future[Any] = asyncio.ensure_future(self._news.wait())
                either: set[asyncio.Future[Any]] = {waiter, mine}
                done, _ = await asyncio.wait(either, timeout=left, return_when="FIRST_COMPLETED")
                waiter.cancel()
                if mine in done:
                    raise mine.exception()  # type: ignore[misc]
        finally:
            if bot.polling is mine:
                bot.polling = None
            if not mine.done():
                mine.cancel()

    def _confirm(self, bot: Bot, offset: int) -> None:
        with self._lock:
            if offset < 0:
                bot.updates = bot.updates[offset:]
            elif offset > 0:
                bot.updates = [u for u in bot.updates if u["update_id"] >= offset]

    def _deliverable(self, bot: Bot) -> list[dict[str, Any]]:
        allowed = (
            set(bot.allowed_updates)
            if bot.allowed_updates
            else (set(UPDATE_TYPES) - NOT_BY_DEFAULT)
        )
        with self._lock:
            return [u for u in bot.updates if (set(u) - {"update_id"}) & allowed]

    async def _m_setwebhook(self, bot: Bot, params: dict[str, Any]) -> Any:
        url = params.get("url")
        if not isinstance(url, str):
            raise ApiError(400, 'Bad Request: parameter "url" is required')
        secret = params.get("secret_token")
        if secret is not None and (
            not isinstance(secret, str) or not SECRET_TOKEN.fullmatch(secret)
        ):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        allowed = (
            _allowed_updates(params["allowed_updates"]) if "allowed_updates" in params else None
        )
        if _truthy(params.get("drop_pending_updates")):
            with self._lock:
                bot.updates.clear()
        if url == "":
            bot.webhook_url, bot.webhook_secret = "", None
            return True
        parts = urlsplit(url)
        if parts.scheme != "https":
            raise ApiError(400, "Bad Request: bad webhook: HTTPS url must be provided for webhook")
        if (parts.port or 443) not in WEBHOOK_PORTS:
            raise ApiError(
                400,
                "Bad Request: bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443",
            )
        bot.webhook_url, bot.webhook_secret = url, secret
        if allowed is not None:  # omitted: the previous setting stays
            bot.webhook_allowed = allowed
        if params.get("max_connections") is not None:
            bot.max_connections = min(
                max(_int(params["max_connections"], "max_connections", default=40), 1), 100
            )
        if bot.polling is not None and not bot.polling.done():
            bot.polling.set_exception(ApiError(409, "Conflict: terminated by setWebhook request"))
        return True

    async def _m_deletewebhook(self, bot: Bot, params: dict[str, Any]) -> Any:
        if _truthy(params.get("drop_pending_updates")):
            with self._lock:
                bot.updates.clear()
        bot.webhook_url, bot.webhook_secret = "", None
        return True

    async def _m_getwebhookinfo(self, bot: Bot, params: dict[str, Any]) -> Any:
        info: dict[str, Any] = {
            "url": bot.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(bot.updates),
        }
        if bot.webhook_url:
            info["max_connections"] = bot.max_connections
            if bot.webhook_allowed:
                info["allowed_updates"] = list(bot.webhook_allowed)
        return info

    async def _m_sendmessage(self, bot: Bot, params: dict[str, Any]) -> Any:
        if "chat_id" not in params:
            raise ApiError(400, "Bad Request: chat_id is empty")
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(text) > MAX_TEXT:
            raise ApiError(400, "Bad Request: message is too long")
        chat = self._chat_by_ref(params["chat_id"])
        if chat.migrated_to is not None:
            raise ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                migrate_to_chat_id=chat.migrated_to,
            )
        if chat.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        self._flood_check(bot, chat.id)
        with self._lock:
            message_id = chat.next_message_id
            chat.next_message_id += 1
            self._date = int(time.time())  # Telegram dates: whole seconds, now
        message: dict[str, Any] = {
            "message_id": message_id,
            "from": {
                "id": bot.id,
                "is_bot": True,
                "first_name": "Signals",
                "username": bot.username,
            },
            "chat": chat.json(),
            "date": self._date,
            "text": text,
        }
        bot.sent.append(message)
        return message

    def _chat_by_ref(self, ref: Any) -> Chat:
        if isinstance(ref, str) and ref.startswith("@"):
            for chat in self.chats.values():
                if chat.username and "@" + chat.username == ref:
                    return chat
            raise ApiError(400, "Bad Request: chat not found")
        try:
            chat_id = int(ref)
        except (TypeError, ValueError):
            raise ApiError(400, "Bad Request: chat not found") from None
        found = self.chats.get(chat_id)
        if found is None:
            raise ApiError(400, "Bad Request: chat not found")
        return found

    def _flood_check(self, bot: Bot, chat_id: int) -> None:
        now = time.monotonic()
        while bot.sends and now - bot.sends[0][0] >= 1.0:
            bot.sends.popleft()
        to_chat = [at for at, cid in bot.sends if cid == chat_id]
        if len(to_chat) >= self.per_chat_per_second or len(bot.sends) >= self.per_second:
            oldest = to_chat[0] if len(to_chat) >= self.per_chat_per_second else bot.sends[0][0]
            wait = max(1, math.ceil(1.0 - (now - oldest)))
            raise ApiError(429, f"Too Many Requests: retry after {wait}", retry_after=wait)
        bot.sends.append((now, chat_id))


def _error(code: int, description: str, parameters: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=code)


async def _params(request: web.Request) -> dict[str, Any]:
    """Query string, then the body (JSON or form), as Telegram reads them."""
    params: dict[str, Any] = dict(request.query)
    if not request.can_read_body:
        return params
    ctype = request.content_type
    if ctype == "multipart/form-data":
        form = await request.post()
        params.update({k: v for k, v in form.items() if isinstance(v, str)})
        return params
    raw = await request.read()
    if ctype == "application/json" and raw:
        try:
            body = json.loads(raw)
        except ValueError:
            raise ApiError(400, "Bad Request: can't parse JSON") from None
        if not isinstance(body, dict):
            raise ApiError(400, "Bad Request: can't parse JSON object")
        params.update(body)
    elif ctype == "application/x-www-form-urlencoded":
        params.update(dict(parse_qsl(raw.decode("utf-8", "replace"))))
    return params


def _int(value: Any, name: str, *, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool):
        raise ApiError(400, f"Bad Request: invalid {name} specified")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(400, f"Bad Request: invalid {name} specified") from None


def _allowed_updates(value: Any) -> tuple[str, ...]:
    """A JSON list of update types, sent as JSON or as a JSON string in a form (as PTB
    sends it)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ApiError(400, "Bad Request: can't parse allowed updates") from None
    if not isinstance(value, list):
        raise ApiError(400, "Bad Request: can't parse allowed updates")
    return tuple(str(a) for a in value)


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() in ("true", "1"))
