"""A local fake of WeChat's server API, for tests and ``make run``: what would have been sent, and WeChat's errors.

It speaks the JSON of the calls the delivery job and the pages make:

- ``GET /cgi-bin/token?grant_type=client_credential&appid=…&secret=…`` checks the AppID and secret and
  answers ``{"access_token", "expires_in"}`` with a fresh token. Like WeChat, each call rotates the
  token: the previous one is refused from then on (40001), which is what catches two refreshers.
- ``POST /cgi-bin/message/custom/send?access_token=…`` checks the token and the JSON body
  (``touser``, ``msgtype``, ``text.content``), records the message in memory and, with ``--record``,
  as one JSON line in a file, and answers ``{"errcode": 0, "errmsg": "ok"}``.

- ``POST /cgi-bin/message/subscribe/bizsend?access_token=…`` (订阅通知): checks the token and the JSON body
  (``touser``, ``template_id``, ``data`` of ``{"key": {"value": "…"}}`` within WeChat's limits per kind of key:
  ``thing`` at most 20 characters, ``phrase`` at most 5 Chinese characters, ``character_string`` at most 32
  ASCII characters, ``time`` a time; else 47003), then uses up one consent the test granted for that OpenID and
  template (none left: 43101, as WeChat answers once the citizen's one-time subscription is used or refused),
  and records the notice (``msgtype`` "subscribe").
- ``GET /cgi-bin/ticket/getticket?access_token=…&type=jsapi``: a JS-SDK ticket (the consent page signs its
  ``wx.config`` with it); the current one is in ``GET /_fake/sent`` as ``jsapi_ticket``.
- ``GET /sns/oauth2/access_token?appid=…&secret=…&code=…&grant_type=authorization_code`` (网页授权): a code
  registered with ``POST /_fake/oauth {"code", "openid"}`` answers ``{"access_token", "openid", "scope", …}``
  once; an unknown or used code answers 40029.
- ``GET /cgi-bin/media/get?access_token=…&media_id=…``: the bytes of a temporary media registered with
  ``POST /_fake/media {"media_id", "content_b64", "content_type"}``, with WeChat's headers; an unknown
  media id (never registered, or forgotten with ``POST /_fake/media/forget {"media_id"}`` as WeChat forgets
  them after three days) answers 40007. A medium registered with ``"picture": true`` is also served at
  ``GET /mmbiz/<media_id>/0`` (a photo's ``PicUrl``), which outlives the media id as WeChat's image links do.

Control endpoints (not WeChat's):

- ``POST /_fake/fail {"errcode": 45015, "times": 1, "openid": "…"}``: the next ``times`` sends (to
  that OpenID only, if given) answer that error instead; ``{"http_status": 503, "times": 2}``
  answers an HTTP error; ``"endpoint"`` aims the rule at another call (token, media, oauth, bizsend, ticket).
- ``POST /_fake/subscribe {"openid": "…", "template_id": "…", "times": 1}``: the citizen accepted the 订阅通知
  prompt ``times`` times (each acceptance of a one-time subscription allows one notice).
- ``POST /_fake/expire {"errcode": 40001}``: every token issued so far is refused from then on with
  that code (40001 or 42001), as when WeChat expires it or another client rotates it.
- ``GET /_fake/sent``: ``{"sent": […], "token_fetches": n, "send_calls": n, "subscribe_calls": n, "consents": […]}``;
  ``POST /_fake/reset``.

Text longer than 2,048 bytes of UTF-8 is answered 45002 (the fake's stand-in for WeChat's limit).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

KEY = "fake_wechat"
# The secret the fake and the app share when WECHAT_APP_SECRET is not set (make run's demo).
DEMO_SECRET = "minsheng-fake-wechat-secret"  # noqa: S105 (a public demo value for a local fake)
MAX_TEXT_BYTES = 2048
ERRMSG = {
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40007: "invalid media_id",
    40013: "invalid appid",
    40029: "invalid code",
    40125: "invalid appsecret",
    41001: "access_token missing",
    42001: "access_token expired",
    43004: "require subscribe",
    44002: "empty post data",
    45002: "content size out of limit",
    45015: "response out of time limit or subscription is canceled",
    45047: "out of response count limit",
    40037: "invalid template_id",
    40097: "invalid args",
    43101: "user refuse to accept the msg",
    45009: "reach max api daily quota limit",
    47001: "data format error",
    47003: "argument invalid!",
    48001: "api unauthorized",
    -1: "system error",
}


@dataclasses.dataclass
class Rule:
    """A programmed failure: answer ``errcode`` (or an HTTP status) ``times`` more times.

    With ``delay`` instead, the message is accepted (recorded as sent) and the answer comes only
    after ``delay`` seconds: what a client whose read times out cannot tell from a lost request.
    """

    times: int
    errcode: int | None = None
    http_status: int | None = None
    delay: float = 0.0
    openid: str | None = None
    endpoint: str = "send"


@dataclasses.dataclass
class FakeState:
    """Everything the fake remembers (in memory; one process)."""

    appid: str
    secret: str
    record: Path | None = None
    token_ttl: int = 7200
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    valid: dict[str, float] = dataclasses.field(default_factory=dict)  # token → expiry (epoch seconds)
    refused: dict[str, int] = dataclasses.field(default_factory=dict)  # token → errcode to answer
    rules: list[Rule] = dataclasses.field(default_factory=list)
    sent: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    token_fetches: int = 0
    send_calls: int = 0
    # 网页授权 codes (one use each) → openid; temporary media id → (content type, bytes); media fetches served.
    oauth_codes: dict[str, str] = dataclasses.field(default_factory=dict)
    media: dict[str, tuple[str, bytes]] = dataclasses.field(default_factory=dict)
    media_fetches: int = 0
    pictures: dict[str, tuple[str, bytes]] = dataclasses.field(default_factory=dict)  # media id → a PicUrl's bytes
    # 订阅通知: (openid, template id) → notices the citizen still accepts; the JS-SDK ticket last issued.
    consents: dict[tuple[str, str], int] = dataclasses.field(default_factory=dict)
    subscribe_calls: int = 0
    jsapi_ticket: str = ""

    def reset(self) -> None:
        """Forget tokens, rules and what was sent."""
        with self.lock:
            self.valid.clear()
            self.refused.clear()
            self.rules.clear()
            self.sent.clear()
            self.oauth_codes.clear()
            self.media.clear()
            self.pictures.clear()
            self.consents.clear()
            self.token_fetches = self.send_calls = self.media_fetches = self.subscribe_calls = 0
            self.jsapi_ticket = ""

    def keep(self, entry: dict[str, Any]) -> None:
        """Remember what WeChat would have delivered, stamped (and append it to the record file); under the lock."""
        entry["at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        self.sent.append(entry)
        if self.record is not None:
            with self.record.open("a", encoding="utf-8") as out:
                out.write(json.dumps(entry, ensure_ascii=False) + "\n")

    def take_rule(self, endpoint: str, openid: str | None) -> Rule | None:
        """The first programmed failure that applies, used up by one."""
        for rule in self.rules:
            if rule.endpoint == endpoint and rule.times > 0 and (rule.openid is None or rule.openid == openid):
                rule.times -= 1
                if rule.times == 0:
                    self.rules.remove(rule)
                return rule
        return None


def _error(code: int, errmsg: str | None = None) -> ResponseReturnValue:
    # WeChat answers errors with HTTP 200 and an errcode in the body.
    return jsonify({"errcode": code, "errmsg": errmsg or ERRMSG.get(code, "error")})


def _ruled(rule: Rule) -> ResponseReturnValue:
    if rule.http_status:
        return jsonify({"error": "simulated"}), rule.http_status
    assert rule.errcode is not None
    return _error(rule.errcode)


# The calls a programmed failure (``/_fake/fail``) can aim at.
ENDPOINTS = frozenset({"send", "token", "media", "oauth", "bizsend", "ticket"})

# WeChat's limits on 订阅通知 values, by the kind of key (thing3 → thing); a value outside them answers 47003.
_CJK = re.compile(r"[\u4e00-\u9fff]+")
_TIME = re.compile(r"(\d{4}年\d{1,2}月\d{1,2}日|\d{4}-\d{2}-\d{2})?\s?(\d{1,2}:\d{2}(:\d{2})?)?")
FIELD_RULES: dict[str, Callable[[str], bool]] = {
    "thing": lambda v: len(v) <= 20,
    "phrase": lambda v: len(v) <= 5 and _CJK.fullmatch(v) is not None,
    "character_string": lambda v: len(v) <= 32 and v.isascii() and " " not in v,
    "number": lambda v: len(v) <= 32 and v.replace(".", "", 1).isdigit(),
    "letter": lambda v: len(v) <= 32 and v.isascii() and v.isalpha(),
    "time": lambda v: _TIME.fullmatch(v) is not None,
    "date": lambda v: _TIME.fullmatch(v) is not None,
    "name": lambda v: len(v) <= 20,
}


def invalid_field(data: Any) -> str | None:
    """The first key of a 订阅通知 ``data`` object WeChat would refuse (47003), or None when every value fits."""
    if not isinstance(data, dict) or not data:
        return "data"
    for key, item in data.items():
        value = item.get("value") if isinstance(item, dict) else None
        rule = FIELD_RULES.get(re.sub(r"\d+$", "", str(key)))
        if not isinstance(value, str) or not value.strip() or rule is None or not rule(value):
            return str(key)
    return None


def _accepted(rule: Rule | None) -> ResponseReturnValue:
    """WeChat's ok for a send already kept, after a programmed delay (a read timeout the client cannot tell)."""
    if rule and rule.delay:
        time.sleep(rule.delay)
    return jsonify({"errcode": 0, "errmsg": "ok"})


def _json_object() -> tuple[dict[str, Any] | None, int | None]:
    """The request's JSON object, or WeChat's errcode for an empty or malformed body."""
    raw = request.get_data()
    if not raw:
        return None, 44002
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None, 47001
    return (body, None) if isinstance(body, dict) else (None, 47001)


def create_fake(appid: str, secret: str, record: Path | None = None, token_ttl: int = 7200) -> Flask:
    """The fake as a Flask app; its state is ``app.extensions["fake_wechat"]`` (a :class:`FakeState`)."""
    app = Flask("fake_wechat")
    state = FakeState(appid, secret, record, token_ttl)
    app.extensions[KEY] = state

    def refused_credentials(endpoint: str, grant_type: str) -> ResponseReturnValue | None:
        """A rule's answer, or WeChat's errcode for a wrong grant type, AppID or secret (call under the lock)."""
        args = request.args
        rule = state.take_rule(endpoint, None)
        if rule:
            return _ruled(rule)
        if args.get("grant_type") != grant_type:
            return _error(40002)
        if args.get("appid") != state.appid:
            return _error(40013)
        if not args.get("secret") or args.get("secret") != state.secret:
            return _error(40125)
        return None

    @app.get("/cgi-bin/token")
    def token() -> ResponseReturnValue:
        with state.lock:
            refused = refused_credentials("token", "client_credential")
            if refused is not None:
                return refused
            # A new token retires the previous ones (WeChat keeps them 5 more minutes; the fake is stricter).
            for old in state.valid:
                state.refused[old] = 40001
            state.valid.clear()
            issued = secrets.token_urlsafe(96)
            state.valid[issued] = time.time() + state.token_ttl
            state.token_fetches += 1
        return jsonify({"access_token": issued, "expires_in": state.token_ttl})

    def refused_token() -> int | None:
        """WeChat's errcode for the request's access_token, or None when it is valid (call under the lock)."""
        access_token = request.args.get("access_token", "")
        if not access_token:
            return 41001
        if access_token in state.refused:
            return state.refused[access_token]
        expiry = state.valid.get(access_token)
        if expiry is None:
            return 40001
        return 42001 if expiry < time.time() else None

    @app.post("/cgi-bin/message/custom/send")
    def custom_send() -> ResponseReturnValue:
        with state.lock:
            state.send_calls += 1
            refused = refused_token()
            if refused is not None:
                return _error(refused)
        body, problem = _json_object()
        if body is None:
            return _error(problem or 47001)
        touser, msgtype = body.get("touser"), body.get("msgtype")
        if not isinstance(touser, str) or not touser:
            return _error(40003)
        if not isinstance(msgtype, str) or not isinstance(body.get(msgtype), dict):
            return _error(47001)
        content = body[msgtype].get("content") if msgtype == "text" else None
        if msgtype == "text" and not isinstance(content, str):
            return _error(47001)
        with state.lock:
            rule = state.take_rule("send", touser)
            if rule and not rule.delay:
                return _ruled(rule)
            if content is not None and len(content.encode("utf-8")) > MAX_TEXT_BYTES:
                return _error(45002)
            entry = {
                "touser": touser,
                "msgtype": msgtype,
                "content": content,
                "body": body,
            }
            state.keep(entry)
        return _accepted(rule)

    @app.post("/cgi-bin/message/subscribe/bizsend")
    def bizsend() -> ResponseReturnValue:
        with state.lock:
            state.subscribe_calls += 1
            refused = refused_token()
            if refused is not None:
                return _error(refused)
        body, problem = _json_object()
        if body is None:
            return _error(problem or 47001)
        touser, template_id, page = body.get("touser"), body.get("template_id"), body.get("page")
        if not isinstance(touser, str) or not touser:
            return _error(40003)
        if not isinstance(template_id, str) or not template_id:
            return _error(40037)
        bad = invalid_field(body.get("data"))
        if bad is not None:
            return _error(47003, f"argument invalid! data.{bad}.value invalid")
        if page is not None and not isinstance(page, str):
            return _error(47001)
        with state.lock:
            rule = state.take_rule("bizsend", touser)
            if rule and not rule.delay:
                return _ruled(rule)
            left = state.consents.get((touser, template_id), 0)
            if left <= 0:
                # No consent, or a one-time consent already used: the citizen has not agreed to this notice.
                return _error(43101)
            if left == 1:
                del state.consents[(touser, template_id)]
            else:
                state.consents[(touser, template_id)] = left - 1
            entry = {
                "touser": touser,
                "msgtype": "subscribe",
                "template_id": template_id,
                "data": {key: item["value"] for key, item in body["data"].items()},
                "page": page,
                "content": None,
                "body": body,
            }
            state.keep(entry)
        return _accepted(rule)

    @app.get("/cgi-bin/ticket/getticket")
    def getticket() -> ResponseReturnValue:
        with state.lock:
            refused = refused_token()
            if refused is not None:
                return _error(refused)
            rule = state.take_rule("ticket", None)
            if rule:
                return _ruled(rule)
            if request.args.get("type") != "jsapi":
                return _error(40097)
            state.jsapi_ticket = secrets.token_urlsafe(48)
            ticket = state.jsapi_ticket
        return jsonify({"errcode": 0, "errmsg": "ok", "ticket": ticket, "expires_in": 7200})

    @app.get("/sns/oauth2/access_token")
    def oauth_token() -> ResponseReturnValue:
        with state.lock:
            refused = refused_credentials("oauth", "authorization_code")
            if refused is not None:
                return refused
            openid = state.oauth_codes.pop(request.args.get("code", ""), None)
        if openid is None:
            return _error(40029)
        return jsonify(
            {
                "access_token": secrets.token_urlsafe(48),
                "expires_in": 7200,
                "refresh_token": secrets.token_urlsafe(48),
                "openid": openid,
                "scope": "snsapi_base",
            }
        )

    @app.get("/cgi-bin/media/get")
    def media_get() -> ResponseReturnValue:
        media_id = request.args.get("media_id", "")
        with state.lock:
            refused = refused_token()
            if refused is not None:
                return _error(refused)
            rule = state.take_rule("media", media_id)
            if rule:
                return _ruled(rule)
            found = state.media.get(media_id)
            if found is not None:
                state.media_fetches += 1
        if found is None:
            return _error(40007)
        content_type, body = found
        return app.response_class(
            body,
            content_type=content_type,
            headers={"Content-disposition": f'attachment; filename="{media_id[:32]}"'},
        )

    @app.post("/_fake/oauth")
    def fake_oauth() -> ResponseReturnValue:
        spec = request.get_json(force=True, silent=True) or {}
        code, openid = spec.get("code"), spec.get("openid")
        if not isinstance(code, str) or not code or not isinstance(openid, str) or not openid:
            return jsonify({"error": "give code and openid (strings)"}), 400
        with state.lock:
            state.oauth_codes[code] = openid
        return jsonify({"ok": True})

    @app.post("/_fake/media")
    def fake_media() -> ResponseReturnValue:
        spec = request.get_json(force=True, silent=True) or {}
        media_id, content_type = spec.get("media_id"), spec.get("content_type") or "application/octet-stream"
        try:
            body = base64.b64decode(spec.get("content_b64") or "", validate=True)
        except (ValueError, TypeError):
            return jsonify({"error": "content_b64 must be base64"}), 400
        if not isinstance(media_id, str) or not media_id or not body:
            return jsonify({"error": "give media_id and content_b64"}), 400
        with state.lock:
            state.media[media_id] = (str(content_type), body)
            if spec.get("picture"):
                state.pictures[media_id] = (str(content_type), body)
        return jsonify({"ok": True})

    @app.get("/mmbiz/<media_id>/0")
    def picture(media_id: str) -> ResponseReturnValue:
        with state.lock:
            found = state.pictures.get(media_id)
        if found is None:
            return "not found", 404
        return app.response_class(found[1], content_type=found[0])

    @app.post("/_fake/media/forget")
    def fake_media_forget() -> ResponseReturnValue:
        spec = request.get_json(force=True, silent=True) or {}
        with state.lock:
            forgotten = state.media.pop(str(spec.get("media_id", "")), None) is not None
        return jsonify({"ok": True, "forgotten": forgotten})

    @app.post("/_fake/subscribe")
    def fake_subscribe() -> ResponseReturnValue:
        spec = request.get_json(force=True, silent=True) or {}
        openid, template_id, times = spec.get("openid"), spec.get("template_id"), spec.get("times", 1)
        if not isinstance(openid, str) or not openid or not isinstance(template_id, str) or not template_id:
            return jsonify({"error": "give openid and template_id (strings)"}), 400
        if not isinstance(times, int) or times < 1:
            return jsonify({"error": "times must be a positive integer"}), 400
        with state.lock:
            key = (openid, template_id)
            state.consents[key] = state.consents.get(key, 0) + times
            left = state.consents[key]
        return jsonify({"ok": True, "left": left})

    @app.post("/_fake/fail")
    def fail() -> ResponseReturnValue:
        spec = request.get_json(force=True, silent=True) or {}
        errcode, http_status, delay = spec.get("errcode"), spec.get("http_status"), spec.get("delay")
        slow = isinstance(delay, int | float) and 0 < delay <= 60
        if not isinstance(errcode, int) and not isinstance(http_status, int) and not slow:
            return jsonify({"error": "give errcode (int), http_status (int) or delay (seconds, at most 60)"}), 400
        rule = Rule(
            times=int(spec.get("times", 1)),
            errcode=errcode if isinstance(errcode, int) else None,
            http_status=http_status if isinstance(http_status, int) else None,
            delay=float(delay) if slow and delay is not None else 0.0,
            openid=spec.get("openid") or None,
            endpoint=spec["endpoint"] if spec.get("endpoint") in ENDPOINTS else "send",
        )
        with state.lock:
            state.rules.append(rule)
        return jsonify({"ok": True, "rule": dataclasses.asdict(rule)})

    @app.post("/_fake/expire")
    def expire() -> ResponseReturnValue:
        spec = request.get_json(force=True, silent=True) or {}
        code = int(spec.get("errcode", 40001))
        if code not in (40001, 40014, 42001):
            return jsonify({"error": "errcode must be 40001, 40014 or 42001"}), 400
        with state.lock:
            for issued in state.valid:
                state.refused[issued] = code
            count = len(state.valid)
            state.valid.clear()
        return jsonify({"ok": True, "expired": count})

    @app.get("/_fake/sent")
    def sent() -> ResponseReturnValue:
        with state.lock:
            return jsonify(
                {
                    "sent": list(state.sent),
                    "token_fetches": state.token_fetches,
                    "send_calls": state.send_calls,
                    "media_fetches": state.media_fetches,
                    "subscribe_calls": state.subscribe_calls,
                    "consents": [
                        {"openid": openid, "template_id": template_id, "left": left}
                        for (openid, template_id), left in state.consents.items()
                    ],
                    "jsapi_ticket": state.jsapi_ticket,
                }
            )

    @app.post("/_fake/reset")
    def reset() -> ResponseReturnValue:
        state.reset()
        return jsonify({"ok": True})

    return app


class _PathOnlyHandler(WSGIRequestHandler):
    """Access log without query strings: they carry the AppSecret and access tokens."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        self.log("info", '"%s %s" %s', self.command, self.path.split("?", 1)[0], code)


def make_fake_server(host: str, port: int, app: Flask) -> BaseWSGIServer:
    """A threaded HTTP server for the fake (port 0: any free port, see ``server_port``)."""
    return make_server(host, port, app, threaded=True, request_handler=_PathOnlyHandler)
