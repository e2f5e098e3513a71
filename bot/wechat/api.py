"""WeChat's server API (客服消息, 订阅通知, the JS-SDK ticket) through wechatpy, with one access token shared in Redis.

WeChat rotates the ``access_token`` on every ``cgi-bin/token`` call, so workers that refresh it on
their own invalidate each other (40001). Here the token lives in Redis under the app's namespace and
is refreshed by a single process at a time: the one that wins ``SET NX PX`` on a lock key fetches it,
the others wait briefly and reuse what it stored. An answer saying the token is invalid or expired
(40001 / 40014 / 42001) drops that token (only if it is still the stored one) and refreshes it once.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Mapping
from typing import Any

import redis
import requests
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException
from wechatpy.session.redisstorage import RedisStorage

log = logging.getLogger(__name__)

# Invalid credential / invalid access_token / access_token expired.
TOKEN_ERRORS = frozenset({40001, 40014, 42001})
# Seconds: every call has one (wechatpy's default is none, and a hung call would block a worker).
DEFAULT_TIMEOUT = 10.0
# The token is dropped from Redis this long before WeChat's expiry, so no call carries a dying one.
EXPIRY_MARGIN = 300
LOCK_TTL_MS = 15_000
LOCK_WAIT = 8.0

# Delete a key only if it still holds the given value: the lock only if it is still ours (it may
# have expired and been taken), the token only if it is still the refused one (another process may
# have stored a fresh one meanwhile).
_DELETE_IF_EQUAL = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class TokenUnavailable(Exception):
    """No access token could be had: the refresher holding the lock did not store one in time."""


class MissingSecret(Exception):
    """WECHAT_APP_SECRET is not configured, so no access token can be fetched."""


class SharedTokenClient(WeChatClient):  # type: ignore[misc]
    """wechatpy's client with a configurable API base and a Redis-shared, single-refresher token."""

    def __init__(
        self,
        appid: str,
        secret: str,
        *,
        api_base: str,
        redis_client: redis.Redis,
        prefix: str,
        timeout: float = DEFAULT_TIMEOUT,
        lock_wait: float = LOCK_WAIT,
    ) -> None:
        storage = RedisStorage(redis_client, prefix=prefix)
        # auto_retry off: wechatpy would refresh on its own, unlocked and without limit.
        super().__init__(appid, secret, session=storage, timeout=timeout, auto_retry=False)
        self.api_base = api_base.rstrip("/")
        # wechatpy joins API_BASE_URL and the endpoint ("message/custom/send").
        self.API_BASE_URL = f"{self.api_base}/cgi-bin/"
        self.redis = redis_client
        self.prefix = prefix
        self.lock_wait = lock_wait
        self.fetches = 0  # token fetches made by this client (for logs and tests)

    # -- the token -------------------------------------------------------------------------------

    @property
    def token_key(self) -> str:
        """The Redis key holding the token (wechatpy's storage adds the prefix)."""
        return f"{self.prefix}:{self.access_token_key}"

    @property
    def lock_key(self) -> str:
        """The Redis key of the refresh lock."""
        return f"{self.token_key}:lock"

    @property
    def access_token(self) -> str:
        """The shared token: the stored one, or one refreshed by a single process."""
        token = self.session.get(self.access_token_key)
        if token:
            return str(token)
        return self.refresh_token(stale=None)

    def refresh_token(self, stale: str | None) -> str:
        """A token other than ``stale``: another process's fresh one, or one fetched under the lock."""
        owner = uuid.uuid4().hex
        deadline = time.monotonic() + self.lock_wait
        while True:
            current = self.session.get(self.access_token_key)
            if current and current != stale:
                return str(current)
            if self.redis.set(self.lock_key, owner, nx=True, px=LOCK_TTL_MS):
                try:
                    # Someone may have stored a token between our read and our lock.
                    current = self.session.get(self.access_token_key)
                    if current and current != stale:
                        return str(current)
                    self.fetch_access_token()
                    return str(self.session.get(self.access_token_key))
                finally:
                    self.redis.eval(_DELETE_IF_EQUAL, 1, self.lock_key, owner)
            if time.monotonic() > deadline:
                raise TokenUnavailable(f"another process held the token lock for more than {self.lock_wait:.0f}s")
            time.sleep(0.05)

    def invalidate_token(self, token: str) -> None:
        """Forget ``token`` if it is still the stored one (WeChat said it is invalid or expired)."""
        self.redis.eval(_DELETE_IF_EQUAL, 1, self.token_key, json.dumps(token))

    def fetch_access_token(self) -> dict[str, Any]:
        """GET cgi-bin/token from the configured base (wechatpy hard-codes WeChat's host, with no timeout)."""
        if not self.secret:
            raise MissingSecret("WECHAT_APP_SECRET is not set: no access token can be fetched")
        res = self._http.get(
            f"{self.api_base}/cgi-bin/token",
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
            timeout=self.timeout,
        )
        try:
            res.raise_for_status()
        except requests.RequestException as exc:
            raise WeChatClientException(None, None, client=self, request=exc.request, response=exc.response) from exc
        result: dict[str, Any] = res.json()
        if result.get("errcode"):
            raise WeChatClientException(
                int(result["errcode"]), result.get("errmsg", ""), client=self, request=res.request, response=res
            )
        expires_in = int(result.get("expires_in", 7200))
        ttl = max(expires_in - EXPIRY_MARGIN, 60) if expires_in > 2 * EXPIRY_MARGIN else max(expires_in // 2, 1)
        self.session.set(self.access_token_key, result["access_token"], ttl)
        self.fetches += 1
        log.info("wechat access token refreshed (valid %ss, kept %ss)", expires_in, ttl)
        return result

    # -- every call --------------------------------------------------------------------------------

    def _request(self, method: str, url_or_endpoint: str, **kwargs: Any) -> Any:
        params = dict(kwargs.pop("params", None) or {})
        if "access_token" in params:
            return super()._request(method, url_or_endpoint, params=params, **kwargs)
        token = self.access_token
        try:
            return super()._request(method, url_or_endpoint, params={**params, "access_token": token}, **kwargs)
        except WeChatClientException as exc:
            if exc.errcode not in TOKEN_ERRORS:
                raise
            log.info("wechat refused the access token (%s): refreshing it once", exc.errcode)
            self.invalidate_token(token)
            fresh = self.refresh_token(stale=token)
            return super()._request(method, url_or_endpoint, params={**params, "access_token": fresh}, **kwargs)

    def send_text(self, openid: str, content: str) -> dict[str, Any]:
        """Send a text customer-service message (客服消息); raises WeChatClientException on an errcode."""
        result: dict[str, Any] = self.message.send_text(openid, content)
        return result

    def send_subscribe_notice(
        self, openid: str, template_id: str, data: Mapping[str, str], page: str | None = None
    ) -> dict[str, Any]:
        """Send a 订阅通知 (POST message/subscribe/bizsend); raises WeChatClientException on an errcode.

        ``data`` maps the template's keys (thing3, time4 …) to their values; ``page`` is the web page the
        notice opens. Each send uses up one of the citizen's one-time consents to that template.
        """
        values = {key: {"value": value} for key, value in data.items()}
        result: dict[str, Any] = self.message.send_subscribe_message(openid, template_id, values, page=page or None)
        return result

    def jsapi_ticket(self) -> str:
        """The JS-SDK ticket (for ``wx.config`` on our pages), kept in Redis until shortly before it expires.

        Fetched without the token's lock: only the consent page needs it, about once in two hours, and a page
        signed with a ticket fetched over at that moment fails only its own ``wx.config`` (a reload fixes it).
        Not wechatpy's ``jsapi.get_jsapi_ticket``: that keeps the ticket with no TTL and to the last second, so a
        page signed just before expiry fails; this one stores it with a TTL that ends EXPIRY_MARGIN early.
        """
        key = f"{self.appid}_jsapi_ticket"
        ticket = self.session.get(key)
        if ticket:
            return str(ticket)
        result = self.get("ticket/getticket", params={"type": "jsapi"})
        expires_in = int(result.get("expires_in", 7200))
        self.session.set(key, result["ticket"], max(expires_in - EXPIRY_MARGIN, 60))
        return str(result["ticket"])

    def jsapi_signature(self, noncestr: str, timestamp: int, url: str) -> str:
        """The ``wx.config`` signature of the page at ``url`` (without its #fragment)."""
        return str(self.jsapi.get_jsapi_signature(noncestr, self.jsapi_ticket(), timestamp, url))


def client_for(config: Mapping[str, Any], redis_client: redis.Redis) -> SharedTokenClient:
    """The API client for ``config``: its WECHAT_API_BASE, AppID and secret, the token in its Redis namespace."""
    return SharedTokenClient(
        config["WECHAT_APP_ID"],
        config["WECHAT_APP_SECRET"],
        api_base=config["WECHAT_API_BASE"],
        redis_client=redis_client,
        prefix=f"{config['REDIS_NAMESPACE']}:wechat",
        timeout=float(config["WECHAT_API_TIMEOUT"]),
    )
