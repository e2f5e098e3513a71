"""Every code the console shows, in Chinese: one vocabulary, so a page never prints a key where a name belongs.

Templates use ``{{ code|zh("purpose") }}``; a code missing from its vocabulary is shown as it is (and a test walks
the pages for stray codes). Citizen-facing names live in replies/variables.py and are reused here.
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.console.auth import ROLE_NAMES
from bot.console.common import STATUS_NAMES
from models import ReplyTemplate
from replies.variables import CASE_TYPE_NAMES, CHANNEL_NAMES, DEPARTMENT_NAMES
from replies.workflow import STATUS_NAMES as TEMPLATE_STATUS_NAMES

PURPOSES = {
    "follow": "关注欢迎",
    "default": "默认回复",
    "intake": "信息采集",
    "acknowledgement": "受理回执",
    "answer": "诉求答复",
    "faq": "常见问题",
    "keyword": "关键词回复",
    "status": "进度查询",
    "closing": "办结通知",
    "survey": "满意度评价",
    "emergency": "紧急情况",
    "fallback": "兜底回复",
    "notice": "通知",
    "thanks": "致谢",
    "subscription": "订阅通知",
}

# What a check found in a reply (replies/guard.py, replies/lexicon.py, replies/structure.py).
FINDINGS = {
    "empty": "内容为空",
    "too_long": "超过长度上限",
    "unfilled_placeholder": "占位符未填充",
    "unknown_placeholder": "未知占位符",
    "stray_brace": "多余花括号",
    "personal_data": "含个人信息",
    "vague_promise": "模糊时限",
    "offensive": "侮辱贬损",
    "dismissive": "推诿敷衍",
    "sarcastic": "讽刺挖苦",
    "threatening": "威胁恐吓",
    "flippant": "轻佻随意",
    "blames_citizen": "归咎群众",
    "rhetorical_retort": "反问质问",
    "unhelpful_refusal": "拒绝未指明渠道",
    "discloses_reporter": "泄露举报人信息",
    "improper": "语气或内容不当（模型判断）",
}

TEMPLATE_STATUSES = {status.value: name for status, name in TEMPLATE_STATUS_NAMES.items()}

INTENTS = {
    "complaint": "投诉/求助",
    "inquiry": "咨询",
    "suggestion": "建议",
    "praise": "表扬",
    "emergency": "紧急",
    "chitchat": "闲聊",
}

EMERGENCY_KINDS = {
    "police": "治安（110）",
    "fire": "火灾（119）",
    "medical": "急救（120）",
    "traffic": "交通事故（122）",
}

MATCH_MODES = {"contain": "包含关键词", "equal": "完全匹配"}

# What a citizen sent, by WeChat MsgType and Event (a message without text shows as 〔图片〕 etc.).
MESSAGE_TYPES = {
    "text": "文字",
    "image": "图片",
    "voice": "语音",
    "video": "视频",
    "shortvideo": "小视频",
    "location": "位置",
    "link": "链接",
    "file": "文件",
    "form": "表单",
    "event": "事件",
}
EVENTS = {
    "subscribe": "关注",
    "unsubscribe": "取消关注",
    "SCAN": "扫码",
    "LOCATION": "上报位置",
    "CLICK": "点击菜单",
    "VIEW": "打开菜单链接",
    "TEMPLATESENDJOBFINISH": "模板消息送达",
    "subscribe_msg_popup_event": "订阅通知",
    "subscribe_msg_change_event": "订阅通知设置变更",
    "subscribe_msg_sent_event": "订阅通知送达回执",
}

# Case-history steps of 订阅通知 (handlers/act.py records the citizen's choices, bot/jobs.py the use of a consent).
CASE_EVENTS = {
    "notice_consent": "同意订阅通知",
    "notice_declined": "拒绝订阅通知",
    "notice_revoked": "拒收订阅通知",
    "notice_used": "以订阅通知送达",
    "notice_undelivered": "订阅通知未送达",
}

# Alerts on the home page (models/alert.py), by kind.
ALERTS = {
    "pipeline_error": "消息处理出错",
    "spool_refused": "暂存消息无法入库",
    "reply_fallback": "已发送兜底回复",
    "deadline_digest": "期限提醒",
    "public_opinion": "舆情预警",
    "template_failed": "模板发送失败",
}

DELIVERY = {"queued": "待发送", "sending": "发送中", "sent": "已送达", "failed": "发送失败"}

THREAD_STATUSES = {"open": "待处理", "waiting": "等待群众", "closed": "已处理"}

# Audit actions, by code; a family prefix ("template.") names the whole family in the filter.
AUDIT_ACTIONS = {
    "login": "登录",
    "logout": "退出登录",
    "login.failed": "登录失败",
    "login.locked": "登录锁定",
    "login.blocked": "锁定期间尝试登录",
    "login.unlock": "解除登录锁定",
    "user.create": "创建账号",
    "user.roles": "修改角色",
    "user.departments": "修改负责部门",
    "user.activate": "启用账号",
    "user.deactivate": "停用账号",
    "user.password": "重置密码",
    "template.create": "新建模板",
    "template.draft": "保存草稿",
    "template.submit": "提交审核",
    "template.withdraw": "撤回审核",
    "template.approve": "审核通过",
    "template.reject": "审核退回",
    "template.publish": "发布",
    "template.rollback": "回滚发布",
    "template.retire": "停用版本",
    "template.enable": "启用模板",
    "template.disable": "关停模板",
    "template.title": "修改模板名称",
    "library.kill_switch": "自动回复总开关",
    "library.review_levels": "审核级数设置",
    "unmask": "查看完整个人信息",
    "qa.flag": "质检标记",
    "thread.assign": "分配会话",
    "thread.status": "会话状态",
    "cases.export": "导出诉求（脱敏）",
    "cases.export_unmasked": "导出诉求（含个人信息）",
    "export": "导出",
    "report.download": "下载报告",
    "opinion.step": "舆情处置进度",
    "opinion.close": "舆情事件结束",
    "opinion.duty": "设置舆情值班人员",
    "rate": "群众评价",
    "retention.anonymise": "到期匿名化",
    "campaign.create": "新建征集",
    "campaign.edit": "修改征集",
    "campaign.open": "开启征集",
    "campaign.close": "结束征集",
    "campaign.cluster": "归纳征集主题",
    "campaign.theme": "标记征集主题",
    "campaign.outcome": "公开反馈征集结果",
    "media.original": "查看群众附件原件",
    "hotline.import": "导入热线工单",
    "hotline.check": "检查热线工单文件",
    "apikey.create": "创建接口密钥",
    "apikey.revoke": "吊销接口密钥",
    "open311.create": "开放接口提交诉求",
    "open311.invalid": "开放接口提交被退回",
    "open311.read": "开放接口查询",
    "open311.revoked": "使用已吊销的接口密钥",
    "open311.throttled": "开放接口调用超限",
}
AUDIT_FAMILIES = {
    "login": "登录与锁定",
    "user.": "账号管理",
    "template.": "模板与审核",
    "library.": "回复库设置",
    "thread.": "会话处理",
    "cases.": "诉求导出",
    "unmask": "查看个人信息",
    "qa.": "质检",
    "report.": "报告",
    "opinion.": "舆情",
    "campaign.": "征集",
    "media.": "群众附件",
    "hotline.": "热线导入",
    "apikey.": "接口密钥",
    "open311.": "开放接口",
}

VOCABULARIES: dict[str, dict[str, str]] = {
    "purpose": PURPOSES,
    "finding": FINDINGS,
    "template_status": TEMPLATE_STATUSES,
    "intent": INTENTS,
    "department": {**DEPARTMENT_NAMES, "none": "无"},
    "case_type": CASE_TYPE_NAMES,
    "case_status": STATUS_NAMES,
    "emergency": EMERGENCY_KINDS,
    "match": MATCH_MODES,
    "thread_status": THREAD_STATUSES,
    "audit": AUDIT_ACTIONS,
    "role": ROLE_NAMES,
    "message_type": MESSAGE_TYPES,
    "event": EVENTS,
    "delivery": DELIVERY,
    "alert": ALERTS,
    "channel": CHANNEL_NAMES,
    "case_event": CASE_EVENTS,
}

# Case histories written before the first event was recorded in Chinese: "自动受理：complaint，transport".
_LEGACY_ACCEPT = re.compile(r"^自动受理：([a-z_]+)，([a-z_]+)")


def zh(code: object, vocabulary: str) -> str:
    """The Chinese name of ``code`` in ``vocabulary`` (an enum's value is looked up), else the code itself."""
    value = getattr(code, "value", code)
    if value is None:
        return ""
    return VOCABULARIES[vocabulary].get(str(value), str(value))


def event_detail(detail: str) -> str:
    """A case event's detail as staff read it (older automatic-acceptance details carried codes)."""
    return _LEGACY_ACCEPT.sub(
        lambda m: f"自动受理：{zh(m.group(1), 'case_type')}，{zh(m.group(2), 'department')}", detail or ""
    )


def message_label(msg_type: str, event: str | None = None) -> str:
    """A message with no text, as staff read it: 〔图片〕, 〔事件：关注〕."""
    kind = MESSAGE_TYPES.get(msg_type, msg_type)
    return f"〔{kind}：{EVENTS.get(event, event)}〕" if event else f"〔{kind}〕"


def template_titles(session: Session) -> dict[str, str]:
    """Every template's Chinese title by key (the key itself while a template has none yet)."""
    return {key: title or key for key, title in session.execute(select(ReplyTemplate.key, ReplyTemplate.title))}


# The key=value details older code wrote into the audit log, by key: the label and the vocabulary of the value.
_DETAIL_KEYS: dict[str, tuple[str, str | None]] = {
    "purpose": ("用途", "purpose"),
    "title": ("名称", None),
    "findings": ("检查发现（处）", None),
    "approved_levels": ("已通过审核级数", None),
    "level": ("审核级", None),
    "accepted": ("接受的检查结果", None),
    "enabled": ("开启", None),
    "levels": ("审核级数", None),
    "roles": ("角色", "role"),
}
_WORDS = {"True": "是", "False": "否", "all": "全部部门"}


def _detail_value(value: str, vocabulary: str | None) -> str:
    items = [v.strip(" '\"") for v in value.strip("[]").split(",") if v.strip(" '\"")]
    if vocabulary is None and not value.startswith("["):
        return _WORDS.get(value, value)
    names = {**FINDINGS, **DEPARTMENT_NAMES} if vocabulary is None else VOCABULARIES[vocabulary]
    return "、".join(names.get(v, _WORDS.get(v, v)) for v in items)


def audit_detail(action: str, detail: str) -> str:
    """An audit entry's detail in Chinese: ``purpose=faq; findings=2`` → ``用途：常见问题；检查发现（处）：2``."""
    if action == "user.departments":
        return _detail_value(detail, "department") if detail != "all" else "全部部门"
    parts = []
    for part in (detail or "").split("; "):
        key, sep, value = part.partition("=")
        if sep and key in _DETAIL_KEYS:
            label, vocabulary = _DETAIL_KEYS[key]
            parts.append(f"{label}：{_detail_value(value, vocabulary)}")
        else:
            parts.append(part)
    return "；".join(parts)


_TARGETS = {"opinion.duty": "舆情值班人员", "cases": "诉求", "messages": "留言"}
_VERSION_TARGET = re.compile(r"^([a-z0-9_]+)@(\d+)$")


def audit_target(target: str, titles: dict[str, str]) -> str:
    """An audit entry's object as staff name it: a template by its title, a citizen by number."""
    m = _VERSION_TARGET.match(target or "")
    if m and m.group(1) in titles:
        return f"{titles[m.group(1)]} 第{m.group(2)}版"
    if target in titles:
        return titles[target]
    if target in PURPOSES:
        return f"用途：{PURPOSES[target]}"
    if target == "automatic_replies":
        return "自动回复"
    if target in _TARGETS:
        return _TARGETS[target]
    if target and target.startswith("citizen:"):
        return f"群众#{target.removeprefix('citizen:')}"
    return target or ""


_TIERS = {"certain": "确定正在发生", "possible": "可能，需人工判断"}
_FRAGMENTS = {"time": "时间", "place": "地点"}


def _words(evidence: str) -> str:
    return f"，依据词：{evidence.replace('/', '、')}" if evidence else ""


def reason_text(reason: str) -> str:
    """One of the classifier's reasons (handlers/classify.py writes them for machines: ``intent:complaint:0.91:
    垃圾/清理``) as a reviewer reads it: 意图：投诉/求助（0.91），依据词：垃圾、清理. Unknown shapes are shown as
    they are (with any code in them named)."""
    parts = reason.split(":")
    head, rest = parts[0], parts[1:]
    if head in ("intent", "department") and len(rest) >= 2:
        kind = "意图" if head == "intent" else "承办部门"
        return f"{kind}：{zh(rest[0], head)}（{rest[1]}）{_words(':'.join(rest[2:]))}"
    if head == "emergency" and rest:
        return f"紧急程度：{_TIERS.get(rest[0], rest[0])}"
    if head == "model" and rest[:1] == ["emergency"] and len(rest) >= 3:
        return f"模型：可能紧急（{rest[1]}，{zh(rest[2], 'emergency')}）{_words(':'.join(rest[3:]))}"
    if head == "script":
        return "留言使用繁体字" if rest == ["traditional"] else reason
    if head == "empty":
        return "空消息"
    if head == "rule" and rest:
        rule, args = rest[0], rest[1:]
        if rule == "emergency" and args:
            return f"规则：紧急（{zh(args[0], 'emergency')}）“{':'.join(args[1:])}”"
        if rule == "not_now":
            return f"规则：描述的不是正在发生的事，模型须达到{args[-1]}才算紧急" if args else "规则：不是正在发生的事"
        if rule == "place_only":
            return "规则：只说了地点，不是紧急情况"
        if rule == "acknowledgement" and args:
            return f"规则：致谢或确认语（归为{zh(args[0], 'intent')}）"
        if rule == "explicit" and len(args) >= 2:
            return f"规则：明确表述为{zh(args[0], 'intent')}“{':'.join(args[1:])}”"
        if rule == "fragment" and len(args) >= 2:
            return f"规则：只有{_FRAGMENTS.get(args[0], args[0])}片段（归为{zh(args[1], 'intent')}）"
        if rule == "unsure_not_chitchat":
            return "规则：拿不准时不当作闲聊"
    return reason
