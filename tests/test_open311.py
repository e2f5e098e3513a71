"""Open311 GeoReport v2 under /open311/v2, through the test client on both backends.

The spec's fields in JSON and XML (services, a service definition, posting, one request, a list); errors as
``[{"code", "description"}]``; keys required, refused when revoked, rate-limited, audited; a posted request is a
case of channel open311 in the same loop, whose answer shows as status_notes; no personal data in any GET; the
``api-key`` commands and the console page.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from xml.etree import ElementTree

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.cli import ScriptInfo
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot import jobs
from bot.extensions import services
from cases import loop
from cases.open311 import create_key, hash_key, mask_address, revoke_key
from handlers.types import Filed, InboundMessage
from models import ApiKey, AuditEntry, Case, CaseStatus, CaseType, Citizen, Message, channel_identity, utcnow
from tests.conftest import count
from tests.test_console import accounts, login, token  # noqa: F401 (fixture)

BASE = "/open311/v2"
SERVICE_FIELDS = {"service_code", "service_name", "description", "metadata", "type", "keywords", "group"}
REQUEST_FIELDS = {"service_request_id", "status", "status_notes", "service_name", "service_code", "description",
                  "agency_responsible", "service_notice", "requested_datetime", "updated_datetime",
                  "expected_datetime", "address", "lat", "long"}  # fmt: skip
# What a citizen tells a city app about themselves: none of it may come back from a GET.
CONTACT = {"first_name": "三", "last_name": "张", "email": "zhangsan@example.com", "phone": "13812345678",
           "account_id": "acct-778899", "device_id": "device-ABCDEF"}  # fmt: skip
PERSONAL = ("张三", "zhangsan@example.com", "13812345678", "0212 3456", "acct-778899", "device-ABCDEF", "201室")


def new_key(app: Flask, name: str = "城市服务App") -> str:
    with services(app).sessions() as session:
        _, key = create_key(session, name, "tests")
        session.commit()
    return key


@pytest.fixture
def key(clean_app: Flask) -> str:
    """A fresh API key (the tables are emptied before each test)."""
    return new_key(clean_app)


@pytest.fixture
def audited(clean_app: Flask) -> Any:
    """``audited(action)``: audit entries of ``action`` written during this test (the log is never emptied)."""
    with services(clean_app).sessions() as session:
        mark = session.scalar(select(func.max(AuditEntry.id))) or 0

    def entries(action: str) -> int:
        with services(clean_app).sessions() as session:
            return count(session, AuditEntry, AuditEntry.action == action, AuditEntry.id > mark)

    return entries


def post(
    client: FlaskClient, key: str | None, fmt: str = "json", headers: dict[str, str] | None = None, **fields: Any
) -> Any:
    data = {"service_code": "transport", "description": "公交站台的遮雨棚破了，下雨天没法候车",
            "address_string": "人民路公交站", **fields}  # fmt: skip
    if key is not None:
        data["api_key"] = key
    return client.post(f"{BASE}/requests.{fmt}", data={k: v for k, v in data.items() if v is not None},
                       headers=headers or {})  # fmt: skip


def xml_rows(body: bytes, root: str, item: str) -> list[dict[str, str]]:
    tree = ElementTree.fromstring(body)
    assert tree.tag == root
    return [{child.tag: child.text or "" for child in row} for row in tree.findall(item)]


def assert_error(resp: Any, code: int, fmt: str = "json") -> str:
    assert resp.status_code == code, resp.get_data(as_text=True)
    if fmt == "xml":
        rows = xml_rows(resp.data, "errors", "error")
        assert len(rows) == 1 and rows[0]["code"] == str(code) and rows[0]["description"]
        return rows[0]["description"]
    body = resp.get_json()
    assert isinstance(body, list) and len(body) == 1 and set(body[0]) == {"code", "description"}
    assert body[0]["code"] == code and body[0]["description"]
    return str(body[0]["description"])


# -- services ------------------------------------------------------------------------------------


def test_services_and_a_service_definition_in_json_and_xml(client: FlaskClient) -> None:
    listed = client.get(f"{BASE}/services.json")
    assert listed.status_code == 200 and listed.mimetype == "application/json"
    rows = listed.get_json()
    assert {r["service_code"] for r in rows} >= {"urban_construction", "transport", "environment", "other"}
    for row in rows:
        assert set(row) == SERVICE_FIELDS and row["type"] == "realtime" and row["metadata"] is True
        assert row["service_name"] and row["group"] and "，" not in row["keywords"]
    transport = next(r for r in rows if r["service_code"] == "transport")
    assert transport["service_name"] == "交通出行" and "公交" in transport["keywords"]
    as_xml = client.get(f"{BASE}/services.xml")
    assert as_xml.status_code == 200 and as_xml.mimetype == "text/xml"
    xml = xml_rows(as_xml.data, "services", "service")
    assert [r["service_code"] for r in xml] == [r["service_code"] for r in rows]
    assert set(xml[0]) == SERVICE_FIELDS and xml[0]["metadata"] == "true"

    definition = client.get(f"{BASE}/services/transport.json").get_json()
    assert definition["service_code"] == "transport"
    (attribute,) = definition["attributes"]
    assert attribute["code"] == "request_type" and attribute["datatype"] == "singlevaluelist"
    assert attribute["required"] is False and attribute["variable"] is True
    assert [v["name"] for v in attribute["values"]] == ["咨询", "求助", "投诉", "举报", "建议", "表扬"]
    tree = ElementTree.fromstring(client.get(f"{BASE}/services/transport.xml").data)
    assert tree.tag == "service_definition" and tree.findtext("service_code") == "transport"
    values = tree.findall("attributes/attribute/values/value")
    assert [(v.findtext("key"), v.findtext("name")) for v in values][2] == ("complaint", "投诉")

    assert_error(client.get(f"{BASE}/services/nothing.json"), 404)
    assert_error(client.get(f"{BASE}/services/nothing.xml"), 404, "xml")
    assert_error(client.get(f"{BASE}/services.csv"), 404)
    assert_error(client.get(f"{BASE}/nowhere.xml"), 404, "xml")
    assert_error(client.post(f"{BASE}/services.json"), 405)
    assert_error(client.delete(f"{BASE}/requests.xml"), 405, "xml")


# -- posting -------------------------------------------------------------------------------------


def test_a_posted_request_is_a_case_of_channel_open311_in_the_loop(
    client: FlaskClient, key: str, db: Session, audited: Any
) -> None:
    resp = post(
        client,
        key,
        **CONTACT,
        **{
            "attribute[request_type]": "complaint",
            "lat": "31.2304",
            "long": "121.4737",
            "media_url": "https://app.example/p/1.jpg",
        },
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)
    (answer,) = resp.get_json()
    assert set(answer) == {"service_request_id", "service_notice", "account_id"}
    assert answer["account_id"] == "acct-778899"
    case = db.scalars(select(Case)).one()
    assert answer["service_request_id"] == case.number and case.number in answer["service_notice"]
    assert case.channel == "open311" and case.department == "transport" and case.case_type is CaseType.COMPLAINT
    assert case.status is CaseStatus.ACCEPTED and not case.needs_triage
    # Contact data lives where the chat form keeps it: labelled lines of the summary, and the raw record.
    for line in (
        "问题描述：公交站台的遮雨棚破了",
        "发生地点：人民路公交站",
        "联系人：张三",
        "回访电话：13812345678",
        "电子邮箱：zhangsan@example.com",
        "来源应用：城市服务App",
    ):
        assert line in case.summary
    opening = db.get(Message, case.opening_message_id)
    assert opening is not None and opening.channel == "open311" and opening.msg_type == "form"
    assert opening.raw_xml is not None and key not in opening.raw_xml
    assert json.loads(opening.raw_xml)["device_id"] == "device-ABCDEF"
    openid = db.scalar(select(Citizen.openid).where(Citizen.id == case.citizen_id))
    assert openid is not None and openid.startswith("open311:") and "acct" not in openid
    audit = db.scalars(select(AuditEntry).where(AuditEntry.target == case.number)).one()
    assert audit.action == "open311.create" and audit.actor.startswith("接口密钥#") and audited("open311.create") == 1
    assert db.scalars(select(ApiKey)).one().last_used_at is not None

    as_xml = post(client, key, fmt="xml", description="建议在人民路增设一个公交站",
                  **{"attribute[request_type]": "建议"})  # fmt: skip
    (row,) = xml_rows(as_xml.data, "service_requests", "request")
    assert set(row) == {"service_request_id", "service_notice", "account_id"} and row["account_id"] == ""
    suggestion = db.scalars(select(Case).where(Case.number == row["service_request_id"])).one()
    assert suggestion.case_type is CaseType.SUGGESTION
    as_json = client.post(f"{BASE}/requests.json", json={
        "api_key": key, "service_code": "environment", "description": "小区旁边的工地晚上十一点还在施工，噪音很大",
        "lat": 31.2, "long": 121.5, "attribute": {"request_type": "投诉"}})  # fmt: skip
    assert as_json.status_code == 200 and as_json.get_json()[0]["service_request_id"]


def test_retries_are_answered_with_the_first_filing(client: FlaskClient, key: str, db: Session, audited: Any) -> None:
    first = post(client, key, phone="13900001111").get_json()[0]
    again = post(client, key, phone="13900001111").get_json()[0]
    assert again == first
    other = post(client, key, phone="13900001111", description="另一件事：人民路的路灯不亮了").get_json()[0]
    assert other["service_request_id"] != first["service_request_id"]
    # An idempotency key wins over the body: a retry whose body changed is still the first filing.
    keyed = post(client, key, headers={"Idempotency-Key": "app-req-1"}).get_json()[0]
    retried = post(client, key, headers={"Idempotency-Key": "app-req-1"}, description="重试时内容改了").get_json()[0]
    assert retried == keyed and keyed["service_request_id"] not in (first["service_request_id"],
                                                                  other["service_request_id"])  # fmt: skip
    assert count(db, Case) == 3
    assert audited("open311.create") == 5


def test_a_retry_across_midnight_utc_is_still_the_first_filing(
    clean_app: Flask, client: FlaskClient, key: str, db: Session
) -> None:
    """08:00 in Beijing is midnight UTC: a client retrying a request filed at 07:59 gets the first case back."""
    from bot.extensions import services
    from bot.open311 import access, intake

    fields = {"service_code": "transport", "description": "幸福路88号门口的井盖缺了一块",
              "address_string": "幸福路88号", "phone": "13900002222"}  # fmt: skip
    sub = intake.parse(fields)
    api_key = access.authenticate(db, key, required=True)
    assert api_key is not None
    last_night = dt.datetime.combine(utcnow().date() - dt.timedelta(days=1), dt.time(23, 59), tzinfo=dt.UTC)
    svc = services(clean_app)
    with svc.message_sessions() as session:
        first = svc.pipeline.file(intake.inbound(sub, api_key, clean_app.config["SECRET_KEY"], last_night), session)
        session.commit()
    again = post(client, key, **fields).get_json()[0]
    assert first.case is not None and again["service_request_id"] == first.case.number
    assert count(db, Case) == 1


def test_keys_missing_unknown_or_revoked_are_refused(
    clean_app: Flask, client: FlaskClient, key: str, audited: Any
) -> None:
    assert "api_key" in assert_error(post(client, None), 403)
    assert_error(post(client, None, fmt="xml"), 403, "xml")
    assert_error(post(client, "o311_not-a-key-we-issued"), 403)
    assert_error(client.get(f"{BASE}/requests.json?api_key=o311_forged"), 403)
    with services(clean_app).sessions() as session:
        revoke_key(session, session.scalars(select(ApiKey)).one().id, "tests")
        session.commit()
    assert_error(post(client, key), 403)
    assert_error(client.get(f"{BASE}/services.xml?api_key={key}"), 403, "xml")
    with services(clean_app).sessions() as session:
        assert count(session, Case) == 0
        assert 1 <= audited("open311.revoked") <= 2  # once a minute (two if a minute ended between them)


def test_a_client_flooding_with_a_refused_key_meets_the_rate_limit(
    clean_app: Flask, client: FlaskClient, key: str, audited: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(clean_app.config, "OPEN311_RATE_PER_MINUTE", 3)
    with services(clean_app).sessions() as session:
        revoke_key(session, session.scalars(select(ApiKey)).one().id, "tests")
        session.commit()
    answers = [post(client, key).status_code for _ in range(10)]
    assert answers.count(429) >= 6 and set(answers) == {403, 429}
    assert audited("open311.revoked") <= 2


def test_bad_input_is_a_4xx_in_the_spec_format_never_a_500(
    client: FlaskClient, key: str, db: Session, audited: Any
) -> None:
    assert_error(post(client, key, service_code=""), 400)
    assert_error(post(client, key, service_code="potholes"), 404)
    assert_error(post(client, key, fmt="xml", description="  "), 400, "xml")
    assert_error(post(client, key, address_string=""), 400)
    assert_error(post(client, key, lat="31.2"), 400)
    assert_error(post(client, key, lat="north", long="east"), 400)
    assert_error(post(client, key, lat="nan", long="121"), 400)
    assert_error(post(client, key, lat="91", long="121"), 400)
    assert_error(post(client, key, email="not-an-address"), 400)
    assert_error(post(client, key, media_url="javascript:alert(1)"), 400)
    assert_error(post(client, key, **{"attribute[request_type]": "chitchat"}), 400)
    assert_error(post(client, key, description="长" * 4001), 400)
    assert_error(client.post(f"{BASE}/requests.json", json=["not", "an", "object"]), 400)
    assert_error(client.post(f"{BASE}/requests.json", json={"api_key": key, "description": {"a": 1}}), 400)
    assert_error(client.post(f"{BASE}/requests.json", data="{broken", content_type="application/json"), 400)
    assert_error(client.post(f"{BASE}/requests.xml", data={"api_key": key, "description": "x" * 1_100_000}), 413,
                 "xml")  # fmt: skip
    for query in (
        "start_date=yesterday",
        "start_date=2026-01-01&end_date=2026-12-01",
        "status=pending",
        "start_date=2026-12-01&end_date=2026-11-01",
        "service_request_id=1;DROP",
    ):
        assert_error(client.get(f"{BASE}/requests.json?{query}"), 400)
    assert_error(client.get(f"{BASE}/requests.json?service_code=potholes"), 404)
    # Hostile bytes never reach the database as they are (PostgreSQL refuses NUL in text).
    assert_error(post(client, "o311_\x00key"), 403)
    assert_error(client.get(f"{BASE}/requests.json?service_code=transport%00"), 404)
    assert_error(client.get(f"{BASE}/requests.json?start_date=0001-01-01T00:00:00%2B08:00"), 400)
    nul = post(client, key, description="路灯\x00不亮", address_string="人民路\x00口", phone="139\x0000001111")
    assert nul.status_code == 200 and "\x00" not in nul.get_data(as_text=True)
    assert_error(client.get(f"{BASE}/requests/20260101999.json"), 404)
    assert_error(client.get(f"{BASE}/requests/%E4%B8%AD.xml"), 404, "xml")
    assert count(db, Case) == 1
    assert audited("open311.invalid") == 12


def test_each_key_is_rate_limited(
    clean_app: Flask, client: FlaskClient, key: str, audited: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(clean_app.config, "OPEN311_RATE_PER_MINUTE", 3)
    # 8 requests: even if a minute ends among them, one window holds at least 4.
    answers = [client.get(f"{BASE}/services.json?api_key={key}") for _ in range(8)]
    refused = [r for r in answers if r.status_code == 429]
    assert refused and all(r.status_code == 200 for r in answers[:3])
    assert "3" in assert_error(refused[0], 429) and int(refused[0].headers["Retry-After"]) >= 1
    other = new_key(clean_app, "另一个应用")  # another key has its own minute
    assert client.get(f"{BASE}/services.json?api_key={other}").status_code == 200
    assert audited("open311.throttled") >= 1
    assert audited("open311.read") == len(answers) - len(refused) + 1


# -- reading -------------------------------------------------------------------------------------


def test_an_answer_given_on_the_case_page_is_the_status_notes_then_closed(
    clean_app: Flask, client: FlaskClient, key: str, db: Session
) -> None:
    number = post(client, key, **{"attribute[request_type]": "complaint"}).get_json()[0]["service_request_id"]
    (opened,) = client.get(f"{BASE}/requests/{number}.json").get_json()
    assert set(opened) == REQUEST_FIELDS and opened["status"] == "open" and opened["status_notes"] == ""
    assert opened["service_code"] == "transport" and opened["agency_responsible"] == "交通运输部门"
    assert opened["requested_datetime"].endswith("+08:00")
    assert opened["expected_datetime"] > opened["requested_datetime"]
    assert number in opened["service_notice"]

    case = db.scalars(select(Case).where(Case.number == number)).one()
    worker = loop.Worker("wu", frozenset({"transport"}))
    library = services(clean_app).library
    fields = {"progress": "整改已完成"}
    seen = loop.answer_digest(loop.preview_answer(db, case, worker, library, "answer_progress", fields).text)
    message = loop.answer(db, case, worker, library, "answer_progress", fields, seen=seen)
    db.commit()
    with clean_app.app_context():
        assert jobs.deliver(message.id) == "sent"  # published as the request's status, nothing sent to WeChat
    db.expire_all()
    assert db.get(Message, message.id).delivered_via == "open311"  # type: ignore[union-attr]

    (answered,) = client.get(f"{BASE}/requests/{number}.json").get_json()
    assert answered["status"] == "open" and answered["status_notes"] == message.content
    assert "整改已完成" in message.content
    assert answered["updated_datetime"] >= opened["updated_datetime"]
    case = db.scalars(select(Case).where(Case.number == number)).one()
    loop.close(db, case, worker, "已答复群众，办结")
    db.commit()
    (closed,) = xml_rows(client.get(f"{BASE}/requests/{number}.xml").data, "service_requests", "request")
    assert set(closed) == REQUEST_FIELDS and closed["status"] == "closed" and closed["status_notes"] == message.content
    listed = client.get(f"{BASE}/requests.json?status=closed").get_json()
    assert [r["service_request_id"] for r in listed] == [number]
    assert client.get(f"{BASE}/requests.json?status=open").get_json() == []


def test_lists_filter_and_show_only_open311_requests(client: FlaskClient, key: str) -> None:
    web = InboundMessage(kind="form", openid=channel_identity("web", "w1"), account="gh", create_time=utcnow(),
                         dedup_key="web:w1", text="幸福小区门口的垃圾一个星期没人清理了", channel="web",
                         filed=Filed(case_type="complaint"))  # fmt: skip
    svc = services(client.application)
    with svc.message_sessions() as session:
        svc.pipeline.file(web, session)  # a web-form case: never listed
        session.commit()
    roads = post(client, key, service_code="urban_construction", description="幸福路上的井盖丢了，很危险")
    transport = post(client, key)
    numbers = {roads.get_json()[0]["service_request_id"], transport.get_json()[0]["service_request_id"]}
    listed = client.get(f"{BASE}/requests.json").get_json()
    assert {r["service_request_id"] for r in listed} == numbers and all(set(r) == REQUEST_FIELDS for r in listed)
    as_xml = xml_rows(client.get(f"{BASE}/requests.xml").data, "service_requests", "request")
    assert {r["service_request_id"] for r in as_xml} == numbers
    only = client.get(f"{BASE}/requests.json?service_code=urban_construction").get_json()
    assert [r["service_code"] for r in only] == ["urban_construction"]
    by_id = client.get(f"{BASE}/requests.json?service_request_id={','.join(sorted(numbers))}").get_json()
    assert len(by_id) == 2
    assert client.get(f"{BASE}/requests.json?start_date=2020-01-01&end_date=2020-02-01").get_json() == []
    with services(client.application).sessions() as session:
        other = session.scalars(select(Case).where(Case.channel == "web")).one()
    assert_error(client.get(f"{BASE}/requests/{other.number}.json"), 404)
    assert client.get(f"{BASE}/requests.json?service_request_id={other.number}").get_json() == []


def test_no_personal_data_in_any_get_answer(client: FlaskClient, key: str) -> None:
    description = ("我是张三，电话13812345678，邮箱zhangsan@example.com，物业电话13900002222，"
                   "银行卡6222 0212 3456 7894 不对，小区电梯坏了三天，请尽快维修")  # fmt: skip
    number = post(client, key, **CONTACT, description=description, service_code="urban_construction",
                  address_string="幸福路88号幸福小区3栋2单元201室", lat="31.230416", long="121.473701",
                  ).get_json()[0]["service_request_id"]  # fmt: skip
    answers = [client.get(f"{BASE}/{path}") for path in (
        f"requests/{number}.json", f"requests/{number}.xml", "requests.json", "requests.xml",
        f"requests.json?service_request_id={number}", f"requests.json?api_key={key}")]  # fmt: skip
    for resp in answers:
        body = resp.get_data(as_text=True)
        assert resp.status_code == 200 and number in body
        leaked = [p for p in PERSONAL if p in body]
        assert not leaked, (resp.request.path, leaked)
    (shown,) = answers[0].get_json()
    # The client's contact details are cut out wherever repeated; other personal data is masked.
    assert shown["description"].startswith("我是***，电话***，邮箱***，物业电话139****2222，银行卡6222 **** **** 7894")
    assert shown["address"] == "幸福路88号幸福小区*栋*单元*室" and (shown["lat"], shown["long"]) == (31.23, 121.474)


def test_mask_address_keeps_the_street_and_drops_the_dwelling() -> None:
    assert mask_address("人民路12号3号楼1203室") == "人民路12号*号楼*室"
    assert mask_address("建设路与解放路交叉口") == "建设路与解放路交叉口"


# -- keys: the command line and the console --------------------------------------------------------


def test_cli_prints_the_key_once_on_its_last_line_and_stores_its_hash(clean_app: Flask, audited: Any) -> None:
    from bot.cli.core import cli

    runner = CliRunner()
    obj = ScriptInfo(create_app=lambda: clean_app)
    created = runner.invoke(cli, ["api-key", "create", "--name", "区便民App"], obj=obj)
    assert created.exit_code == 0, created.output
    lines = created.output.strip().splitlines()
    printed = lines[-1]
    assert printed.startswith("o311_") and len(printed) > 40 and created.output.count(printed) == 1
    with services(clean_app).sessions() as session:
        row = session.scalars(select(ApiKey)).one()
        assert row.key_hash == hash_key(printed) and printed[:12] == row.prefix and row.name == "区便民App"
        assert audited("apikey.create") == 1
    listed = runner.invoke(cli, ["api-key", "list"], obj=obj)
    assert listed.exit_code == 0 and row.prefix in listed.output and printed not in listed.output
    assert runner.invoke(cli, ["api-key", "revoke", str(row.id)], obj=obj).exit_code == 0
    assert runner.invoke(cli, ["api-key", "revoke", str(row.id)], obj=obj).exit_code != 0
    assert "REVOKED" in runner.invoke(cli, ["api-key", "list"], obj=obj).output
    assert runner.invoke(cli, ["api-key", "create", "--name", " "], obj=obj).exit_code != 0


def test_admins_list_and_revoke_keys_in_the_console(
    clean_app: Flask,
    accounts: dict[str, str],  # noqa: F811
    key: str,
    audited: Any,
) -> None:
    admin = login(clean_app, accounts["admin"])
    page = admin.get("/console/api-keys").get_data(as_text=True)
    assert "城市服务App" in page and key[:12] in page and key not in page and "接口密钥" in page
    with services(clean_app).sessions() as session:
        key_id = session.scalars(select(ApiKey.id)).one()
    assert admin.post("/console/api-keys", data={"key_id": key_id}).status_code == 400  # no CSRF token
    assert login(clean_app, accounts["operator"]).get("/console/api-keys").status_code == 403
    resp = admin.post("/console/api-keys", data={"key_id": key_id, "csrf_token": token(admin, "/console/api-keys")})
    assert resp.status_code == 302
    assert "已吊销" in admin.get("/console/api-keys").get_data(as_text=True)
    with services(clean_app).sessions() as session:
        row = session.get(ApiKey, key_id)
        assert row is not None and row.revoked_at is not None and row.revoked_by == accounts["admin"]
        assert audited("apikey.revoke") == 1
    assert_error(post(clean_app.test_client(), key), 403)
