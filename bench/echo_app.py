"""Baseline for `make bench`: a bare Flask + wechatpy safe-mode echo endpoint.

This is deliberately the smallest thing a wechatpy user would write for safe mode
(encrypt_type=aes): check `signature`, decrypt with `msg_signature`, parse, reply
with the same text, encrypt the reply. No storage, no dedup, no freshness check.
It exists only so the benchmark can report the product's throughput relative to
what the protocol work alone costs on the same machine in the same run.

Serve it exactly like the product: gunicorn, 4 sync workers, e.g.
    .venv/bin/python -m gunicorn -w 4 -k sync -b 127.0.0.1:8001 --chdir bench echo_app:app
"""
import os

from flask import Flask, Response, abort, request
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.replies import create_reply
from wechatpy.utils import check_signature

TOKEN = os.environ.get("WECHAT_TOKEN", "minsheng")
APP_ID = os.environ.get("WECHAT_APP_ID", "wx5f3a8c0d2e4b6a17")
AES_KEY = os.environ.get("WECHAT_ENCODING_AES_KEY", "M1nSh3ngD3m0AesKey000000000000000000000000A")

crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)


def make_app(before_reply=None):
    """The echo; ``before_reply(msg, xml)`` (bench/naive_app.py's storage) runs before the reply is built
    and may return a response of its own."""
    app = Flask(__name__)

    @app.route("/wechat", methods=["GET", "POST"])
    def wechat():
        args = request.args
        signature = args.get("signature", "")
        timestamp = args.get("timestamp", "")
        nonce = args.get("nonce", "")
        try:
            check_signature(TOKEN, signature, timestamp, nonce)
        except InvalidSignatureException:
            abort(403)
        if request.method == "GET":
            return Response(args.get("echostr", ""), mimetype="text/plain")

        if args.get("encrypt_type", "raw") != "aes":
            abort(400)  # the baseline only measures safe mode
        try:
            xml = crypto.decrypt_message(request.get_data(), args.get("msg_signature", ""), timestamp, nonce)
        except (InvalidSignatureException, InvalidAppIdException):
            abort(403)
        msg = parse_message(xml)
        if before_reply is not None:
            early = before_reply(msg, xml)
            if early is not None:
                return early
        text = msg.content if msg.type == "text" else "success"
        reply_xml = create_reply(text, msg).render()
        return Response(crypto.encrypt_message(reply_xml, nonce, timestamp), mimetype="application/xml")

    return app


app = make_app()
