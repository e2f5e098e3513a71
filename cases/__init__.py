"""The case loop (受理 → 办结), working-day deadlines, the figures, retention and the record chain.

Used by the message pipeline (handlers/) and the console; it takes a ``Session`` and only flushes.
"""
