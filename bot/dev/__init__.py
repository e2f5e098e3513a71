"""The dev room: tools for demos, benchmarks and tests, never used by the product at run time.

``demo_data`` (with ``demo_text``) generates fictional traffic for ``seed-demo``; ``fake_wechat`` is a local
fake of WeChat's server API for ``make run`` and the tests. Their commands are in ``bot/cli/dev.py``.
"""
