"""Every code the console shows, in Chinese: one vocabulary, so a page never prints a key where a name belongs.

Templates use ``{{ code|zh("purpose") }}``; a code missing from its vocabulary is shown as it is (and a test walks
the pages for stray codes). Citizen-facing names live in replies/variables.py and are reused here.
"""

from __future__ import annotations

import re

from bot.console.auth import ROLE_NAMES
from bot.console.common import STATUS_NAMES
from replies.variables import CASE_TYPE_NAMES, DEPARTMENT_NAMES

PURPOSES = {
    "follow": "关注欢迎",
    "default": "默认回复",
    "intake": "信息采集",
    "acknowledgement": "受理回执",
    "answer": "即时答复",
    "faq": "常见问题",
    "keyword": "关键词回复",
    "status": "进度查询",
    "closing": "办结通知",
    "survey": "满意度评价",
    "emergency": "紧急情况",
    "fallback": "兜底回复",
    "notice": "通知",
    "thanks": "致谢",
    "case_answer": "诉求答复",
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

TEMPLATE_STATUSES = {
    "draft": "草稿",
    "in_review": "待审核",
    "approved": "已通过",
    "published": "已发布",
    "retired": "已停用",
    "rejected": "已退回",
    "withdrawn": "已撤回",
}

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
    "rate": "群众评价",
    "retention.anonymise": "到期匿名化",
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
