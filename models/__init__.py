"""SQLAlchemy 2 models of minsheng: citizens, messages, cases, reply templates and alerts.

Nothing but table definitions lives here; the rules that write these rows are in handlers/ and replies/.
"""

from models.alert import Alert
from models.base import Base, utcnow
from models.case import Case, CaseStatus, CaseType
from models.citizen import Citizen
from models.message import Direction, Message
from models.template import ReplyTemplate, TemplateStatus, TemplateVersion

__all__ = [
    "Alert",
    "Base",
    "Case",
    "CaseStatus",
    "CaseType",
    "Citizen",
    "Direction",
    "Message",
    "ReplyTemplate",
    "TemplateStatus",
    "TemplateVersion",
    "utcnow",
]
