"""The WeChat edge: signatures, crypto, XML in and out, and the ``/wechat`` blueprint (in ``views``)."""
