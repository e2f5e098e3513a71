"""网页授权 (snsapi_base): who is writing, when the form is opened inside WeChat.

The account's menu (or a QR code) points at ``/h5/wechat``, which sends the browser to WeChat's authorize page with
a random ``state`` kept in the form's cookie; WeChat sends it back to ``/h5/?code=…&state=…`` and the code is
exchanged here for the citizen's OpenID (``/sns/oauth2/access_token`` on ``WECHAT_API_BASE``). snsapi_base asks
the citizen nothing and gives only the OpenID, which is all the form needs: the letter then joins the citizen's
chat thread and the acknowledgement follows as a customer-service message.

The ``state`` check matters: without it, someone could make a citizen's browser exchange *their* code, and the
citizen's letter — and its acknowledgement — would go to the other person's thread. Any failure (no secret, a
network error, an expired code) gives None: the letter is then filed without an OpenID, never refused.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import requests

from text.pii import mask_openid

log = logging.getLogger(__name__)

AUTHORIZE = "https://open.weixin.qq.com/connect/oauth2/authorize"
# WeChat's OpenIDs: letters, digits, "-" and "_" (models.citizen.reachable_by_wechat relies on "no colon").
_OPENID = re.compile(r"[A-Za-z0-9_-]{6,64}")


def authorize_url(appid: str, redirect_uri: str, state: str) -> str:
    """WeChat's 网页授权 page for ``appid``, coming back to ``redirect_uri`` with a code and ``state``."""
    query = urlencode(
        {
            "appid": appid,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": "snsapi_base",
            "state": state,
        }
    )
    # WeChat documents the parameters in this order and the fragment as required.
    return f"{AUTHORIZE}?{query}#wechat_redirect"


def exchange_code(config: Mapping[str, Any], code: str) -> str | None:
    """The OpenID a 网页授权 ``code`` stands for, or None (logged without the code or the OpenID)."""
    secret = config.get("WECHAT_APP_SECRET") or ""
    if not secret:
        log.warning("网页授权 code received but WECHAT_APP_SECRET is not set: the letter is filed without an OpenID")
        return None
    try:
        resp = requests.get(
            f"{str(config['WECHAT_API_BASE']).rstrip('/')}/sns/oauth2/access_token",
            params={
                "appid": config["WECHAT_APP_ID"],
                "secret": secret,
                "code": code,
                "grant_type": "authorization_code",
            },
            timeout=float(config["WECHAT_API_TIMEOUT"]),
        )
        resp.raise_for_status()
        answer = resp.json()
    except (requests.RequestException, ValueError) as exc:
        # The exception's text can carry the URL, and with it the secret and the code: name its type only.
        log.warning("网页授权 code exchange failed: %s", type(exc).__name__)
        return None
    if not isinstance(answer, dict):
        log.warning("网页授权 code exchange answered something other than an object")
        return None
    openid = answer.get("openid")
    if not isinstance(openid, str) or not _OPENID.fullmatch(openid):
        log.warning("网页授权 code exchange refused: errcode %s", answer.get("errcode", "?"))
        return None
    log.info("网页授权 gave OpenID %s", mask_openid(openid))
    return openid
