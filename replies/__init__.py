"""The vetted reply library: the only source of outbound text.

Only published template versions are rendered; placeholders come from a whitelist and are masked;
the rendered text passes the final guard, or the safe fallback goes out and supervisors are alerted.
"""
