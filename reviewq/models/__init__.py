"""All tables, imported here so SQLModel.metadata is complete for Alembic and create_all."""

from reviewq.models.approvals import Approval
from reviewq.models.audit import AuditEvent, AuditEventPublic
from reviewq.models.canaries import (
    CanaryBudget,
    CanaryRateBoost,
    Injection,
    InjectionKind,
    InjectionOutcome,
    InjectionSource,
    ReservoirOutput,
)
from reviewq.models.common import UTCDateTime, new_public_id, utcnow
from reviewq.models.decisions import (
    ActiveTimeSource,
    Decision,
    DecisionCreate,
    DecisionPublic,
    ReasonBucket,
    ReviewSession,
    Verdict,
)
from reviewq.models.disputes import DISPUTE_TRANSITIONS, Dispute, DisputeStatus, RetiredTemplate
from reviewq.models.items import (
    OPEN_STATUSES,
    TRANSITIONS,
    Item,
    ItemCreate,
    ItemKind,
    ItemPublic,
    ItemStatus,
    Outcome,
    can_transition,
)
from reviewq.models.limits import RateCounter
from reviewq.models.notifications import (
    ApprovalWatch,
    Availability,
    DeliveryAction,
    Notification,
    NotificationDelivery,
    NotificationStage,
    ReviewerAvailability,
)
from reviewq.models.rollups import ApprovalWaitRollup, DecisionRollup
from reviewq.models.skips import Skip
from reviewq.models.tokens import ALL_SCOPES, ApiToken, ApiTokenCreate, ApiTokenPublic, Scope
from reviewq.models.users import Role, User, UserCreate, UserPublic
from reviewq.models.webhooks import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from reviewq.models.workbench import JudgeVerdict, OverlapReview, Overturn

__all__ = [
    "ActiveTimeSource",
    "DISPUTE_TRANSITIONS",
    "Dispute",
    "DisputeStatus",
    "RetiredTemplate",
    "Skip",
    "ApprovalWatch",
    "Availability",
    "DeliveryAction",
    "Notification",
    "NotificationDelivery",
    "NotificationStage",
    "ReviewerAvailability",
    "ALL_SCOPES",
    "Approval",
    "DeliveryStatus",
    "WebhookDelivery",
    "WebhookEndpoint",
    "OPEN_STATUSES",
    "TRANSITIONS",
    "ApiToken",
    "ApiTokenCreate",
    "ApiTokenPublic",
    "AuditEvent",
    "AuditEventPublic",
    "ApprovalWaitRollup",
    "Decision",
    "CanaryBudget",
    "CanaryRateBoost",
    "Injection",
    "ReservoirOutput",
    "InjectionKind",
    "InjectionOutcome",
    "InjectionSource",
    "DecisionCreate",
    "DecisionRollup",
    "DecisionPublic",
    "Item",
    "JudgeVerdict",
    "OverlapReview",
    "Overturn",
    "ItemCreate",
    "ItemKind",
    "ItemPublic",
    "ItemStatus",
    "Outcome",
    "RateCounter",
    "ReasonBucket",
    "ReviewSession",
    "Role",
    "Scope",
    "UTCDateTime",
    "User",
    "UserCreate",
    "UserPublic",
    "Verdict",
    "can_transition",
    "new_public_id",
    "utcnow",
]
