"""The fake WeChat API (bot/dev/fake_wechat.py) as a real local HTTP server in a thread, driven over HTTP."""
from __future__ import annotations

import threading
from typing import Any

import requests

from bot.dev.fake_wechat import create_fake, make_fake_server


class FakeWeChat:
    """A running fake: ``url`` to put in WECHAT_API_BASE, and its control endpoints."""

    def __init__(self, appid: str, secret: str) -> None:
        self.appid, self.secret = appid, secret
        self.server = make_fake_server("127.0.0.1", 0, create_fake(appid, secret))
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def __enter__(self) -> FakeWeChat:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Shut the server down."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        resp = requests.post(f"{self.url}{path}", json=body, timeout=5)
        resp.raise_for_status()
        return resp.json()  # type: ignore[no-any-return]

    def fail(self, **rule: Any) -> None:
        """Program a failure: errcode= or http_status=, times=, openid=, endpoint=."""
        self._post("/_fake/fail", rule)

    def expire(self, errcode: int = 40001) -> int:
        """Refuse every token issued so far with ``errcode``; how many there were."""
        return int(self._post("/_fake/expire", {"errcode": errcode})["expired"])

    def state(self) -> dict[str, Any]:
        """What was sent, and how many token fetches and send calls there were."""
        resp = requests.get(f"{self.url}/_fake/sent", timeout=5)
        resp.raise_for_status()
        return resp.json()  # type: ignore[no-any-return]

    def sent(self) -> list[dict[str, Any]]:
        """The messages the fake accepted (what WeChat would have delivered)."""
        return list(self.state()["sent"])

    def grant(self, openid: str, template_id: str, times: int = 1) -> int:
        """The citizen accepts the 订阅通知 prompt ``times`` times; how many notices they now accept."""
        body = {"openid": openid, "template_id": template_id, "times": times}
        return int(self._post("/_fake/subscribe", body)["left"])

    def notices(self) -> list[dict[str, Any]]:
        """The 订阅通知 the fake accepted (bizsend), in order: touser, template_id, data (key → value), page."""
        return [s for s in self.sent() if s["msgtype"] == "subscribe"]

    def consents_left(self, openid: str, template_id: str) -> int:
        """Notices the fake would still accept for ``openid`` and ``template_id``."""
        for row in self.state()["consents"]:
            if row["openid"] == openid and row["template_id"] == template_id:
                return int(row["left"])
        return 0

    def jsapi_ticket(self) -> str:
        """The JS-SDK ticket the fake issued last (empty before any)."""
        return str(self.state()["jsapi_ticket"])
