"""Reference for `make bench --naive`: the echo plus the naive pipeline the spine issue describes.

bench/echo_app.py's safe-mode echo, plus per message what a first version of such a product does: a Redis
round trip (``SET NX`` on the MsgId, for retries) and an ORM insert of the message, committed, before the
reply. No classification, case, template or reply check. It exists only so the bench can show, in the same
run, where the product stands between the bare protocol and this naive pipeline (which the issue measured
at 0.35-0.45x the echo on these machines).

    NAIVE_DATABASE_URL=postgresql+psycopg://root@127.0.0.1:5432/minsheng_bench_naive \
    NAIVE_REDIS_URL=redis://127.0.0.1:6379/0 \
    .venv/bin/python -m gunicorn -w 4 -k sync -b 127.0.0.1:8002 --chdir bench naive_app:app

``python bench/naive_app.py create`` makes its one table (run once, before the workers start).
"""
import datetime as dt
import os
import sys

import redis
from echo_app import make_app
from flask import Response
from sqlalchemy import BigInteger, DateTime, String, Text, create_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

DATABASE_URL = os.environ.get("NAIVE_DATABASE_URL", "postgresql+psycopg://root@127.0.0.1:5432/minsheng_bench_naive")
REDIS_URL = os.environ.get("NAIVE_REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_PREFIX = os.environ.get("NAIVE_REDIS_NAMESPACE", "minsheng-bench-naive") + ":"


class Base(DeclarativeBase):
    pass


class Message(Base):
    __tablename__ = "naive_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    msg_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    openid: Mapped[str] = mapped_column(String(64), index=True)
    msg_type: Mapped[str] = mapped_column(String(16))
    content: Mapped[str | None] = mapped_column(Text)
    raw_xml: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


engine = create_engine(DATABASE_URL, pool_size=2)
Session = sessionmaker(engine)
cache = redis.Redis.from_url(REDIS_URL)


def store(msg, xml):
    """A Redis round trip for retries, then the ORM insert, committed."""
    if not cache.set(f"{REDIS_PREFIX}{msg.id}", 1, nx=True, ex=300):
        return Response("success", mimetype="text/plain")  # a retry
    with Session() as session:
        session.add(
            Message(msg_id=msg.id, openid=msg.source, msg_type=msg.type,
                    content=getattr(msg, "content", None), raw_xml=xml, created_at=msg.create_time)
        )
        session.commit()
    return None


app = make_app(store)


if __name__ == "__main__" and sys.argv[1:] == ["create"]:
    Base.metadata.create_all(engine)
