"""SQLAlchemy 2 models of minsheng: citizens, messages, cases, reply templates, settings, alerts and the audit log.

Nothing but table definitions lives here; the rules that write these rows are in handlers/ and replies/.
"""

from models.alert import Alert
from models.audit import AuditEntry
from models.base import Base, utcnow
from models.campaign import Campaign, CampaignStatus, CampaignTheme
from models.case import Case, CaseEvent, CaseStatus, CaseType
from models.chain import ChainHead
from models.channel import ApiKey, Attachment, NoticeConsent
from models.citizen import (
    CHANNELS,
    TRY_OPENID_PREFIX,
    Citizen,
    channel_identity,
    channel_of,
    reachable_by_wechat,
)
from models.message import Direction, Message
from models.opinion import OpinionIncident
from models.template import (
    ReplyTemplate,
    ReviewDecision,
    Setting,
    TemplateReview,
    TemplateStatus,
    TemplateVersion,
)
from models.thread import ThreadState
from models.user import ROLES, QaFlag, User

__all__ = [
    "CHANNELS",
    "ROLES",
    "TRY_OPENID_PREFIX",
    "Alert",
    "ApiKey",
    "Attachment",
    "AuditEntry",
    "Base",
    "Campaign",
    "CampaignStatus",
    "CampaignTheme",
    "Case",
    "CaseEvent",
    "CaseStatus",
    "CaseType",
    "ChainHead",
    "Citizen",
    "Direction",
    "Message",
    "NoticeConsent",
    "OpinionIncident",
    "QaFlag",
    "ReplyTemplate",
    "ReviewDecision",
    "Setting",
    "TemplateReview",
    "TemplateStatus",
    "TemplateVersion",
    "ThreadState",
    "User",
    "channel_identity",
    "channel_of",
    "reachable_by_wechat",
    "utcnow",
]
