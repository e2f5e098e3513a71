"""12345 hotline import in the console: upload a CSV or XLSX of tickets and read which rows were rejected."""

from __future__ import annotations
