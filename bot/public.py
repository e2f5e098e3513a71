"""Addresses citizens reach outside the chat, built from PUBLIC_BASE_URL (no I/O, no imports of the wiring).

The services build the pipeline with the consent page it offers, and bot/notice.py serves that page: both read
the address here, so neither imports the other.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def base_url(config: Mapping[str, Any]) -> str:
    """PUBLIC_BASE_URL without its trailing slash ("" when unset: development)."""
    return str(config.get("PUBLIC_BASE_URL") or "").rstrip("/")


def consent_page(config: Mapping[str, Any]) -> str | None:
    """The 订阅通知 consent page acknowledgements offer, or None while subscriptions are off or the address unset.

    Not bound to a case: the consent arrives as WeChat's push and is counted per citizen and template.
    """
    base = base_url(config)
    return f"{base}/notice/subscribe" if base and config.get("SUBSCRIBE_TEMPLATE_ID") else None
