"""The message pipeline: dedupe → record → triage → act → respond.

Framework-free: stages take our own dataclasses and a SQLAlchemy ``Session`` and only ``flush()``;
the caller (a view, a CLI command or a job) commits once.
"""
