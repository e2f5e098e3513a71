"""Open311 GeoReport v2 under ``/open311/v2``: city apps and FixMyStreet file and follow requests (issue 20).

``blueprint.py`` holds the blueprint and its error answers, ``views.py`` the endpoints, ``intake.py`` how a
posted request is read, ``access.py`` keys, rate limit and audit, ``formats.py`` JSON and XML. The service
catalogue and what a request may show are domain rules, in ``cases/open311.py``.
"""

from __future__ import annotations

from bot.open311 import views  # noqa: F401 (registers the routes on the blueprint)
from bot.open311.blueprint import bp

__all__ = ["bp"]
