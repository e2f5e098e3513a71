"""The small exception hierarchy of the application, mapped to HTTP answers in one place (the edge)."""

from __future__ import annotations


class MinshengError(Exception):
    """Base of every error the application raises on purpose."""

    status = 400
    public_message = "bad request"


class ConfigError(MinshengError):
    """A configuration value is missing or invalid: start-up stops with one clear line."""


class Forbidden(MinshengError):
    """The request is not WeChat's: bad signature, stale timestamp, undecryptable body."""

    status = 403
    public_message = "forbidden"


class Refused(MinshengError):
    """The body is hostile or unusable in a way WeChat never produces (DTD, entities)."""

    status = 400
    public_message = "refused"


class PayloadTooLarge(MinshengError):
    """The body is larger than any WeChat push."""

    status = 413
    public_message = "payload too large"


class Unparseable(MinshengError):
    """The (authentic) body cannot be parsed: logged and answered ``success``."""

    status = 200
    public_message = "success"
