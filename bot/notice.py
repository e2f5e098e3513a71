"""订阅通知 (subscribe messages): the consent page, the answer page a notice opens, and what a notice says.

A customer-service message reaches a citizen only within 48 hours of their last message (45015), while a case has
up to 15 working days. After that an answer can reach them only as a 订阅通知, which they must have agreed to in
WeChat beforehand. The flow, as WeChat's service-account documentation describes it today:

1. **Consent.** ``/notice/subscribe`` is a page inside WeChat (from the account's menu, or a link carrying a case's
   signed token, ``?case=NUMBER&t=TOKEN``) with WeChat's open tag ``wx-open-subscribe`` for the template
   ``SUBSCRIBE_TEMPLATE_ID``, configured with ``wx.config`` signed with the account's JS-SDK ticket (the page's host
   must be one of the account's JS安全域名). The same prompt can sit in an article (图文) as the editor's 订阅通知
   component. Whatever the citizen chooses, WeChat pushes ``subscribe_msg_popup_event`` to ``/wechat``, signed;
   the pipeline records it (handlers/act.py). The page's own script only shows the citizen what happened: a page
   can be forged, WeChat's push cannot.
2. **Send.** When a person's answer cannot go as a customer-service message (45015, or the citizen's last message is
   older than 48 hours), the delivery job (bot/jobs.py) uses one granted consent and sends the notice through
   ``POST /cgi-bin/message/subscribe/bizsend``: the case number, the status, a vetted one-line summary and the time
   (:data:`NOTICE_FIELDS`), opening ``/notice/answer`` for the full answer.
3. **Read.** ``/notice/answer?case=NUMBER&t=TOKEN`` shows the answer's vetted text, only with a valid signed token
   for that very message: no list, no search, nothing the citizen wrote.

The older one-time subscription message (``mp/subscribemsg?action=get_confirm`` + ``/cgi-bin/message/template/
subscribe``) is not used: it takes a different template (the one in 接口权限), so a 订阅通知 template id in it is
refused, and its consent cannot be used by bizsend.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import requests
from flask import Blueprint, Response, current_app, render_template, request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select
from wechatpy.exceptions import WeChatClientException

from bot.public import base_url
from bot.services import services
from bot.wechat.api import MissingSecret, TokenUnavailable, client_for
from models import Case, Direction, Message
from replies.library import NotSendable, render_chosen
from replies.variables import CASE_STATUS_NAMES

log = logging.getLogger(__name__)

bp = Blueprint("notice", __name__, url_prefix="/notice")

# The data keys of the 订阅通知 template chosen in the MP console (a 诉求办理结果通知 with 受理编号, 办理状态, 诉求事项,
# 办理时间) → what fills them. Another template has other keys: change the left column to its own. WeChat's limits
# (else 47003): character_string ≤ 32 ASCII characters, phrase ≤ 5 Chinese characters, thing ≤ 20 characters,
# time like "2026年12月17日 15:01".
NOTICE_FIELDS: Mapping[str, str] = {
    "character_string1": "case_number",
    "phrase2": "status",
    "thing3": "summary",
    "time4": "time",
}
# WeChat's length limits per value, applied to what we fill in (a vetted summary a reviewer lengthened is cut).
_LIMITS = {"case_number": 32, "status": 5, "summary": 20}
# The vetted templates (replies/seed.toml): the notice's one-line summary, and the consent page's explanation.
SUMMARY_TEMPLATE = "notice_answer_ready"
OFFER_TEMPLATE = "notice_offer"

# How long the link to an answer stays valid.
ANSWER_DAYS = 183
_ANSWER_SALT = "minsheng.notice.answer"
# WeChat's JS-SDK: the open tag exists only with it, and only inside WeChat (no copy of ours can replace it).
JSSDK_URL = "https://res.wx.qq.com/open/js/jweixin-1.6.0.js"
# The pages carry signed tokens: never cached, never sent on as a Referer (the SDK loads from WeChat's host).
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
    "X-Content-Type-Options": "nosniff",
}


# -- what a notice says and links to --------------------------------------------------------------


def notice_data(case_number: str, status: str, summary: str, at: dt.datetime, tz: ZoneInfo) -> dict[str, str]:
    """The template's ``data`` values (key → text) for an answer to case ``case_number`` sent at ``at``."""
    local = at.astimezone(tz)
    values = {
        "case_number": case_number,
        "status": status,
        "summary": summary.strip(),
        "time": f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}",
    }
    values = {name: value[: _LIMITS[name]] if name in _LIMITS else value for name, value in values.items()}
    return {key: values[name] for key, name in NOTICE_FIELDS.items()}


def answer_link(config: Mapping[str, Any], case_number: str, message_id: int) -> str | None:
    """The answer page of message ``message_id`` (signed), or None without ``PUBLIC_BASE_URL``."""
    return _link(config, "answer", _ANSWER_SALT, case_number, message_id)


def _link(config: Mapping[str, Any], page: str, salt: str, case_number: str, ident: int) -> str | None:
    base = base_url(config)
    if not base:
        return None
    token = _serializer(config, salt).dumps([case_number, int(ident)])
    return f"{base}/notice/{page}?{urlencode({'case': case_number, 't': token})}"


def _serializer(config: Mapping[str, Any], salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(config["SECRET_KEY"], salt=salt)


def _verified(config: Mapping[str, Any], salt: str, days: int, case: str, token: str) -> tuple[str, int] | None:
    """(case number, id) from a token we signed for ``case`` and not older than ``days``; else None."""
    try:
        payload = _serializer(config, salt).loads(token, max_age=days * 86400)
    except BadSignature:  # tampered, another page's token, or expired (SignatureExpired is one)
        return None
    if not (isinstance(payload, list) and len(payload) == 2 and isinstance(payload[1], int)):
        return None
    if payload[0] != case:
        return None
    return str(payload[0]), int(payload[1])


# -- the pages ----------------------------------------------------------------------------------------


def _page(template: str, status: int = 200, **context: Any) -> Response:
    response = Response(render_template(template, **context), status=status, mimetype="text/html")
    response.headers.update(_HEADERS)
    return response


@bp.get("/subscribe")
def subscribe() -> Response:
    """The consent page: WeChat's subscription prompt for the answer notice (recorded from WeChat's push)."""
    config = current_app.config
    template_id = str(config.get("SUBSCRIBE_TEMPLATE_ID") or "")
    if not template_id:
        return _page("notice/subscribe.html", 404, unavailable="off")
    offer = _offer_text()
    try:
        wx_config = _wx_config(config)
    except (WeChatClientException, MissingSecret, TokenUnavailable, requests.RequestException, KeyError) as exc:
        log.warning("consent page without the JS-SDK ticket: %s", type(exc).__name__)
        return _page("notice/subscribe.html", 503, offer=offer, unavailable="ticket")
    return _page(
        "notice/subscribe.html",
        offer=offer,
        template_id=template_id,
        wx_config=wx_config,
        sdk=JSSDK_URL,
    )


def _offer_text() -> str | None:
    """The page's explanation, from the vetted library (None while it is not published: the button alone)."""
    svc = services()
    with svc.sessions() as session:
        try:
            return render_chosen(svc.library, session, OFFER_TEMPLATE, {}).text
        except NotSendable:
            return None


def _wx_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """``wx.config`` for this page: signed over the address the citizen's WeChat shows (no #fragment)."""
    base = base_url(config)
    url = f"{base}{request.full_path.rstrip('?')}" if base else request.url
    noncestr, timestamp = secrets.token_hex(8), int(time.time())
    client = client_for(config, services().redis)
    return {
        "debug": False,
        "appId": config["WECHAT_APP_ID"],
        "timestamp": timestamp,
        "nonceStr": noncestr,
        "signature": client.jsapi_signature(noncestr, timestamp, url),
        # The open tag needs wx.config to succeed, and wx.config wants at least one JS interface named.
        "jsApiList": ["closeWindow"],
        "openTagList": ["wx-open-subscribe"],
    }


@bp.get("/answer")
def answer() -> Response:
    """The answer a notice links to: its vetted text, only with the token signed for that message."""
    config = current_app.config
    found = _verified(config, _ANSWER_SALT, ANSWER_DAYS, request.args.get("case", ""), request.args.get("t", ""))
    if found is None:
        return _page("notice/invalid.html", 404)
    case_number, message_id = found
    with services().sessions() as session:
        row = session.execute(
            select(Message.content, Message.sent_at, Message.delivery_status, Case.number, Case.status)
            .join(Case, Case.id == Message.case_id)
            .where(Message.id == message_id, Message.direction == Direction.OUT)
        ).first()
    # Only an answer that went out: a notice whose send failed never reached anyone, and its link shows nothing.
    if row is None or row.number != case_number or row.delivery_status != "sent":
        return _page("notice/invalid.html", 404)
    tz = ZoneInfo(config["TIMEZONE"])
    sent = row.sent_at.astimezone(tz) if row.sent_at else None
    return _page(
        "notice/answer.html",
        case_number=case_number,
        case_status=CASE_STATUS_NAMES.get(row.status.value, "办理中"),
        sent=f"{sent.year}年{sent.month}月{sent.day}日 {sent:%H:%M}" if sent else "",
        content=row.content,
    )
