"""`make audit`: pip-audit on the pinned requirements, with an honest one-line summary.

    var/audit-venv/bin/python bench/audit.py requirements.txt requirements-dev.txt

pip-audit reports "No known vulnerabilities found" even when it could audit nothing: a package index
that serves no vulnerability data makes every dependency "not found on PyPI and could not be
audited". This runs pip-audit with JSON output (--no-deps --disable-pip: every requirement is pinned,
so nothing is installed or resolved) and prints how many dependencies were actually audited:

    pip-audit: audited N of M pinned dependencies; vulnerabilities found: K (...)

Exit 1 only when a vulnerability was found. When pip-audit cannot run at all, or audits nothing,
that is said plainly and the exit is 0: it is not a finding, and it is not a pass either.
"""
from __future__ import annotations

import collections
import json
import os
import subprocess
import sys


def main(argv: list[str]) -> int:
    files = argv or ["requirements.txt", "requirements-dev.txt"]
    exe = os.path.join(os.path.dirname(sys.executable), "pip-audit")
    cmd = [exe, "--no-deps", "--disable-pip", "--format", "json", "--progress-spinner", "off"]
    for f in files:
        cmd += ["-r", f]
    try:
        cp = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as e:
        print(f"pip-audit: could not run ({e}); audited 0 dependencies — NOT a pass, no finding either")
        return 0
    try:
        doc = json.loads(cp.stdout)
    except ValueError:
        tail = (cp.stderr or cp.stdout).strip().splitlines()[-3:]
        print(f"pip-audit: failed (exit {cp.returncode}): {' | '.join(tail)}; audited 0 dependencies — NOT a pass")
        return 0
    deps = doc.get("dependencies", [])
    skipped = [d for d in deps if d.get("skip_reason")]
    audited = [d for d in deps if not d.get("skip_reason")]
    vulns = [(d["name"], d.get("version"), v.get("id"), v.get("fix_versions")) for d in audited
             for v in d.get("vulns", [])]
    reasons = collections.Counter(
        "not found on the package index (no vulnerability data)" if "not found on PyPI" in d["skip_reason"]
        else d["skip_reason"].split(":")[0] for d in skipped)
    why = "; ".join(f"{n} {r}" for r, n in reasons.most_common())
    for name, version, vid, fixes in vulns:
        print(f"  VULNERABLE: {name} {version}: {vid} (fixed in {', '.join(fixes or []) or 'no release yet'})")
    print(f"pip-audit: audited {len(audited)} of {len(deps)} pinned dependencies"
          + (f" ({len(skipped)} could not be audited: {why})" if skipped else "")
          + f"; vulnerabilities found: {len(vulns)}"
          + (" — nothing was actually checked, so this is NOT a pass" if deps and not audited else ""))
    return 1 if vulns else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
