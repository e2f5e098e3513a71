"""The web form's pages: the form (``GET /h5/``), the letter posted (``POST /h5/``), the way in through WeChat.

Thin views: read the form → check it (the form again, as typed, with a message by each field) → the rate limit →
one domain call (``submit.file_letter``) → the result page. Whatever goes wrong before the letter is filed, the
citizen gets the form back with their words in it; only photos have to be chosen again (a browser never fills a
file field).
"""

from __future__ import annotations

import hmac
import logging
import secrets

from flask import current_app, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError

from bot.services import services
from bot.webform.blueprint import bp, client_address
from bot.webform.letter import (
    KINDS,
    MAX_PHOTO_BYTES,
    MAX_PHOTOS,
    MAX_WHAT,
    MIN_WHAT,
    Letter,
    check,
    new_token,
    parse,
    read_photos,
    token_ok,
)
from bot.webform.oauth import authorize_url, exchange_code
from bot.webform.submit import RateLimit, file_letter
from models import channel_identity, reachable_by_wechat

log = logging.getLogger(__name__)

BUSY = "系统繁忙，留言暂未提交成功。您填写的内容仍在下方：请稍后再点“提交留言”，或拨打12345政务服务便民热线。"
TOO_MANY = (
    "您所在网络本小时内提交的留言已达上限，这封留言尚未提交。"
    "您填写的内容仍在下方：请一小时后再提交，或拨打12345政务服务便民热线。"
)
EXPIRED = "页面已过期或安全校验未通过，留言尚未提交。您填写的文字仍在下方：请核对后重新提交。"


def _web_identity() -> str:
    """This browser's random identity (in the form's signed cookie), made on its first visit."""
    ident = session.get("web_id")
    if not isinstance(ident, str) or not token_ok(ident):
        ident = new_token()
        session["web_id"] = ident
    session.permanent = True
    return ident


def _citizen() -> str:
    """Who is writing: the WeChat OpenID from 网页授权, else this browser's ``web:`` identity."""
    openid = session.get("openid")
    if isinstance(openid, str) and openid and reachable_by_wechat(openid):
        return openid
    return channel_identity("web", _web_identity())


def _page(letter: Letter, errors: dict[str, str] | None = None, *, notice: str | None = None,
          photos_dropped: int = 0, status: int = 200) -> ResponseReturnValue:  # fmt: skip
    _web_identity()
    if not token_ok(letter.token):
        letter.token = new_token()
    openid = session.get("openid")
    return render_template(
        "webform/form.html",
        letter=letter,
        errors=errors or {},
        notice=notice,
        photos_dropped=photos_dropped,
        kinds=KINDS,
        wechat=isinstance(openid, str) and bool(openid),
        wechat_failed=bool(session.get("wechat_failed")),
        retention_years=max(1, round(int(current_app.config["RETENTION_DAYS"]) / 365)),
        min_what=MIN_WHAT,
        max_what=MAX_WHAT,
        max_photos=MAX_PHOTOS,
        max_photo_mb=MAX_PHOTO_BYTES // (1024 * 1024),
    ), status


@bp.get("/")
def form() -> ResponseReturnValue:
    """The form; WeChat's 网页授权 comes back here with ``code`` and ``state``."""
    if "code" in request.args:
        return _from_wechat()
    return _page(Letter())


def _from_wechat() -> ResponseReturnValue:
    expected = session.pop("oauth_state", None)
    state, code = request.args.get("state", ""), request.args.get("code", "")
    openid = None
    if isinstance(expected, str) and expected and hmac.compare_digest(state, expected) and 0 < len(code) <= 128:
        openid = exchange_code(current_app.config, code)
    else:
        # Not the state this browser was sent with: someone else's code must not decide whose thread this is.
        log.warning("网页授权 return without this browser's state: code not used")
    if openid:
        session["openid"] = openid
        session.pop("wechat_failed", None)
    else:
        session["wechat_failed"] = True
    session.permanent = True
    # The code is spent: the form's own address, so a reload or a shared link does not carry it.
    return redirect(url_for("webform.form"))


@bp.get("/wechat")
def wechat() -> ResponseReturnValue:
    """To WeChat's 网页授权 (snsapi_base), coming back to the form with a code (the account's menu links here)."""
    state = secrets.token_urlsafe(16)
    session["oauth_state"] = state
    session.permanent = True
    base = str(current_app.config["PUBLIC_BASE_URL"]).rstrip("/") or request.host_url.rstrip("/")
    target = authorize_url(current_app.config["WECHAT_APP_ID"], base + url_for("webform.form"), state)
    return redirect(target)


@bp.post("/")
def submit() -> ResponseReturnValue:
    """File the posted letter, or show the form again with what to correct."""
    letter = parse(request.form)
    errors = check(letter)
    uploads = request.files.getlist("photos")
    photos, photo_error = read_photos(uploads)
    if photo_error:
        errors["photos"] = photo_error
    chosen = sum(1 for u in uploads if u.filename)
    if not token_ok(letter.token):
        # Not a page we served (or a very old one): it cannot be told apart from a repeat, so it is not filed.
        return _page(letter, errors, notice=EXPIRED, photos_dropped=chosen, status=400)
    if errors:
        return _page(letter, errors, photos_dropped=chosen, status=400)
    limit = RateLimit(current_app._get_current_object(), client_address())  # type: ignore[attr-defined]
    if not limit.letter_allowed():
        return _page(letter, notice=TOO_MANY, photos_dropped=chosen, status=429)
    try:
        result = file_letter(current_app._get_current_object(), letter, photos, _citizen())  # type: ignore[attr-defined]
    except Exception:
        # The database or the store is away: the citizen keeps the letter and can post it again (the same
        # token: if it was filed after all, the repeat shows that filing).
        log.exception("web form letter could not be filed")
        return _page(letter, notice=BUSY, photos_dropped=chosen, status=503)
    if not result.duplicate:
        limit.letter_filed()
    # The 订阅通知 consent page, for a citizen WeChat identified (bot/notice.py records the consent WeChat pushes).
    offer = services().pipeline.notice_link if result.wechat else None
    return render_template("webform/result.html", result=result, letter=letter, notice_link=offer)


@bp.errorhandler(CSRFError)
def _csrf_error(exc: CSRFError) -> ResponseReturnValue:
    # A page left open past the token's lifetime, or a post from elsewhere: nothing is filed, and the letter
    # comes back (only this browser can read the answer, so a forged post learns nothing from it).
    letter = parse(request.form)
    chosen = sum(1 for u in request.files.getlist("photos") if u.filename)
    return _page(letter, notice=EXPIRED, photos_dropped=chosen, status=400)
