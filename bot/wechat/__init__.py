"""The WeChat edge: the ``/wechat`` callback, where WeChat's pushes become our own messages and back.

``endpoint.py`` is a bare WSGI application mounted in front of Flask (``app.wsgi_app``), not a blueprint: the hot
path skips Flask's request machinery, and WeChat gets a plain-text answer for every error. ``edge.py`` checks the
timestamp and signature, decrypts (``crypto.py``: the current key, then the previous) and decodes (``codec.py``:
clean, refuse, parse through wechatpy into :class:`handlers.types.InboundMessage`; render replies). ``api.py`` is
WeChat's server API for outbound calls (customer-service messages), with one access token shared in Redis.
"""
