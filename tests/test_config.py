"""Configuration: documented defaults work, bad values stop start-up with one clear line."""
from __future__ import annotations

import pytest

from bot import create_app
from bot.config import DEFAULTS, load_config
from bot.errors import ConfigError


def test_defaults_need_no_configuration():
    config = load_config({})
    assert config["DATABASE_URL"].startswith("sqlite:///") and config["REDIS_URL"] == ""
    assert len(config["WECHAT_ENCODING_AES_KEY"]) == 43


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"WECHAT_ENCODING_AES_KEY": "x" * 42}, "must be 43 characters"),
        ({"WECHAT_ENCODING_AES_KEY": "!" * 43}, "letters, digits"),
        ({"WECHAT_ENCODING_AES_KEY_PREVIOUS": "short"}, "WECHAT_ENCODING_AES_KEY_PREVIOUS"),
        ({"DATABASE_URL": "not a url"}, "DATABASE_URL"),
        ({"DATABASE_URL": "mysql://root@localhost/x"}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgresql+psycopg2://h/x"}, "psycopg"),
        ({"REDIS_URL": "http://localhost"}, "REDIS_URL"),
        ({"REDIS_URL": "redis://:99999999"}, "REDIS_URL"),
        ({"WECHAT_API_BASE": "ftp:/nope"}, "WECHAT_API_BASE"),
        ({"WECHAT_TIMESTAMP_WINDOW": "abc"}, "WECHAT_TIMESTAMP_WINDOW"),
        ({"WECHAT_TOKEN": "has space"}, "WECHAT_TOKEN"),
        ({"WECHAT_APP_ID": "123"}, "WECHAT_APP_ID"),
        ({"TIMEZONE": "Mars/Olympus"}, "TIMEZONE"),
        ({"CASE_DEADLINE_DAYS": "inquiry=two"}, "CASE_DEADLINE_DAYS"),
        ({"CASE_DEADLINE_DAYS": "gossip=3"}, "unknown request type"),
        ({"CASE_DEADLINE_DAYS": "emergency=1"}, "CASE_DEADLINE_DAYS"),
        ({"CASE_REOPEN_DAYS": "-1"}, "CASE_REOPEN_DAYS"),
        ({"CONSOLE_COOKIE_SECURE": "maybe"}, "CONSOLE_COOKIE_SECURE"),
    ],
)
def test_invalid_values_name_the_variable_in_one_line(env, fragment):
    with pytest.raises(ConfigError) as info:
        load_config(env)
    message = str(info.value)
    assert fragment in message and "\n" not in message


def test_plain_postgresql_url_uses_psycopg3():
    config = load_config({"DATABASE_URL": "postgresql://u@db.example/minsheng"})
    assert config["DATABASE_URL"].startswith("postgresql+psycopg://")


def test_production_refuses_demo_secrets():
    with pytest.raises(ConfigError, match="must be set in production"):
        load_config({"MINSHENG_ENV": "production"})
    good = {
        "MINSHENG_ENV": "production", "WECHAT_TOKEN": "realtoken1", "WECHAT_APP_ID": "wx00112233445566aa",
        "SECRET_KEY": "s" * 40, "DATABASE_URL": "postgresql+psycopg://db/m", "REDIS_URL": "redis://r:6379/0",
        "WECHAT_ENCODING_AES_KEY": "b" * 43,
    }
    assert load_config(good)["MINSHENG_ENV"] == "production"
    with pytest.raises(ConfigError, match="demo key"):
        load_config({**good, "WECHAT_ENCODING_AES_KEY": DEFAULTS["WECHAT_ENCODING_AES_KEY"]})


def test_app_factory_does_no_io(tmp_path):
    # Pointing at a database directory that does not exist must not fail while building the app.
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/nothing/here.db",
                      "EMBEDDED_REDIS_DB": str(tmp_path / "r.db")})
    assert not (tmp_path / "nothing").exists()
    assert not (tmp_path / "r.db").exists()
    assert app.config["MAX_CONTENT_LENGTH"] == 1024 * 1024


def test_behind_a_trusted_proxy_the_clients_address_is_the_forwarded_one():
    from flask import request

    from bot import create_app

    seen: dict[int, str | None] = {}
    for hops in (0, 1):
        app = create_app({"TESTING": True, "TRUSTED_PROXY_HOPS": hops})

        @app.get("/__whoami")
        def whoami(hops: int = hops) -> str:
            seen[hops] = request.remote_addr
            return "ok"

        app.test_client().get("/__whoami", headers={"X-Forwarded-For": "203.0.113.7"},
                              environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert seen == {0: "10.0.0.9", 1: "203.0.113.7"}
