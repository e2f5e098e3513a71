"""The whitelist of placeholder values a template may use, and how each is formatted for citizens."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from replies.pii import mask_text

DEPARTMENT_NAMES = {
    "urban_construction": "城市建设管理部门",
    "environment": "生态环境部门",
    "transport": "交通运输部门",
    "education": "教育部门",
    "labor_social_security": "人力资源和社会保障部门",
    "commerce_tourism": "商务和文化旅游部门",
    "health": "卫生健康部门",
    "public_security": "公安部门",
    "civil_affairs": "民政部门",
    "other": "综合受理部门",
}

EMERGENCY_NUMBERS = {"police": "110", "fire": "119", "medical": "120", "traffic": "122"}

ALLOWED = frozenset({"case_number", "deadline", "department", "date", "emergency_number", "progress"})


def _date(value: dt.datetime | dt.date, tz: ZoneInfo, with_time: bool) -> str:
    if isinstance(value, dt.datetime):
        local = value.astimezone(tz)
        if with_time:
            return f"{local.year}年{local.month}月{local.day}日{local.hour:02d}:{local.minute:02d}"
        return f"{local.year}年{local.month}月{local.day}日"
    return f"{value.year}年{value.month}月{value.day}日"


def format_value(name: str, value: Any, tz: ZoneInfo, *, deadline_with_time: bool = False) -> str:
    """The citizen-facing text of one whitelisted variable, masked; ``KeyError`` if not whitelisted."""
    if name not in ALLOWED:
        raise KeyError(name)
    if name == "deadline":
        return _date(value, tz, deadline_with_time)
    if name == "date":
        return _date(value, tz, False)
    if name == "department":
        return DEPARTMENT_NAMES.get(str(value), DEPARTMENT_NAMES["other"])
    if name == "emergency_number":
        return EMERGENCY_NUMBERS.get(str(value), str(value)) if str(value).isalpha() else str(value)
    return mask_text(str(value))
