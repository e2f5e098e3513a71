"""GeoReport v2's two formats: JSON arrays of objects, and XML built with the standard library's ElementTree.

The shapes are the spec's: ``<services><service>…``, ``<service_definition>…<attributes><attribute>…``,
``<service_requests><request>…``, ``<errors><error>…``; JSON carries the same fields as an array of objects.
Times are ISO 8601 with the unit's offset (``2026-12-08T09:30:00+08:00``); in XML ``true``/``false`` for booleans
and an empty element for a missing value. Characters XML cannot carry are dropped from every text.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

from flask import Response

from text.controls import without_controls

_MIMETYPES = {"json": "application/json", "xml": "text/xml"}
# A list's element name in XML, by the name of the list.
_ITEMS = {"attributes": "attribute", "values": "value"}

Row = Mapping[str, Any]


def format_of(path: str) -> str:
    """The format a path asks for: ``xml`` when it ends so, else JSON (also for errors on unknown paths)."""
    return "xml" if path.lower().endswith(".xml") else "json"


def iso(value: dt.datetime, tz: ZoneInfo) -> str:
    """ISO 8601 with the offset of ``tz``, to the second."""
    if value.tzinfo is None:  # stored times are UTC
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(tz).replace(microsecond=0).isoformat()


def render(fmt: str, root: str, item: str, rows: Sequence[Row], *, status: int = 200) -> Response:
    """``rows`` as a JSON array, or as ``<root><item>…</item>…</root>``."""
    if fmt == "xml":
        element = ElementTree.Element(root)
        for row in rows:
            _fill(ElementTree.SubElement(element, item), row)
        return _xml(element, status)
    return _json(list(rows), status)


def render_one(fmt: str, root: str, row: Row) -> Response:
    """One object (a service definition): a JSON object, or ``<root>…</root>``."""
    if fmt == "xml":
        element = ElementTree.Element(root)
        _fill(element, row)
        return _xml(element, 200)
    return _json(row, 200)


def error_response(fmt: str, code: int, description: str) -> Response:
    """The spec's error answer: ``[{"code": 403, "description": "…"}]`` or ``<errors><error>…``."""
    return render(fmt, "errors", "error", [{"code": code, "description": description}], status=code)


def _json(value: Any, status: int) -> Response:
    body = json.dumps(value, ensure_ascii=False, default=str)
    return Response(body, status=status, mimetype=_MIMETYPES["json"])


def _xml(element: ElementTree.Element, status: int) -> Response:
    body = '<?xml version="1.0" encoding="utf-8"?>\n' + ElementTree.tostring(element, encoding="unicode")
    return Response(body.encode("utf-8"), status=status, content_type=f"{_MIMETYPES['xml']}; charset=utf-8")


def _fill(element: ElementTree.Element, row: Row) -> None:
    for name, value in row.items():
        child = ElementTree.SubElement(element, name)
        if isinstance(value, list):
            for entry in value:
                _fill(ElementTree.SubElement(child, _ITEMS.get(name, "item")), entry)
        else:
            child.text = _text(value)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return without_controls(str(value))
