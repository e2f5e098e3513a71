"""Open311 API keys in the console: list them, and revoke one (admins).

Keys are created from the command line (``python -m bot api-key create``), which prints the key once; the page
shows what identifies a key without disclosing it (name, prefix), when it was created and last used, and revokes
it at once — its next request is refused. Revoking is audited.
"""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from bot.console.audit import record
from bot.console.auth import permission
from bot.console.blueprint import bp
from bot.extensions import console_session
from cases.open311 import ApiKeyError, list_keys, revoke_key


@bp.route("/api-keys", methods=["GET", "POST"])
@permission("apikeys.manage")
def api_keys() -> Response | str:
    """Every key, active first; POST ``key_id`` revokes that key."""
    db = console_session()
    if request.method == "POST":
        key_id = request.form.get("key_id", type=int)
        try:
            if key_id is None:
                raise ApiKeyError("请选择要吊销的接口密钥")
            row = revoke_key(db, key_id, g.user.username)
        except ApiKeyError as exc:
            db.rollback()
            flash(str(exc), "error")
        else:
            record(db, g.user.username, "apikey.revoke", f"接口密钥#{row.id}", row.name,
                   (request.remote_addr or "")[:64])  # fmt: skip
            db.commit()
            flash(f"接口密钥“{row.name}”已吊销，使用它的请求将被拒绝。", "ok")
        return redirect(url_for("console.api_keys"))
    return render_template("console/api_keys.html", keys=list_keys(db))
