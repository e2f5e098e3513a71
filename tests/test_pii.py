"""Personal data is masked before it reaches a reply, a page, a log line or an export."""
from __future__ import annotations

from text.pii import find_personal_data, id_number_valid, luhn_valid, mask_openid, mask_text


def test_mobile_numbers_are_masked():
    assert mask_text("电话13812341234请回电") == "电话138****1234请回电"


def test_longer_digit_runs_are_not_mistaken_for_mobiles():
    assert mask_text("订单号2138123412345") == "订单号2138123412345"


def test_id_numbers_with_valid_check_digit_hide_the_birth_date():
    assert id_number_valid("11010519491231002X")
    assert mask_text("身份证11010519491231002X") == "身份证1101**********002X"


def test_id_like_numbers_with_a_wrong_check_digit_are_not_id_numbers():
    assert not id_number_valid("110105194912310021")
    assert [f.kind for f in find_personal_data("110105194912310021")] != ["id_number"]


def test_bank_cards_pass_luhn_before_masking():
    card = "4111111111111111"
    assert luhn_valid(card)
    assert mask_text(f"卡号{card}") == "卡号4111 **** **** 1111"
    assert mask_text("卡号4111 1111 1111 1111") == "卡号4111 **** **** 1111"


def test_office_landline_is_not_personal_data():
    assert mask_text("咨询电话010-12345678") == "咨询电话010-12345678"


def test_openids_are_shortened():
    assert mask_openid("oMinShengDemoCitizen0000001") == "oMin****0001"
    assert mask_openid("short") == "*****"


def test_a_citizens_landline_is_masked_but_a_units_case_numbers_and_hotlines_are_not():
    assert mask_text("来电号码：010-62345678") == "来电号码：010-****5678"
    assert mask_text("回访电话：（0755）8123-4567转12") == "回访电话：（0755）****4567"
    assert "62345678" not in mask_text("工单1\n联系电话 01062345678")
    assert mask_text("来电号码：62345678") == "来电号码：****5678"  # a local number, no area code
    assert mask_text("电子邮箱：zhang.san@example.com") == "电子邮箱：z***@example.com"
    for kept in ("咨询电话010-12345678", "受理编号202612010000123", "请拨打12345", "罚款100000元"):
        assert mask_text(kept) == kept
