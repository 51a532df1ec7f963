"""Events published by the follow-up service (跟踪问效).

Selection reads MilestoneCompleted, EvaluationSubmitted and MentorTaskCompleted so a
cadre's training history shows the effect (作为选任干部重要参考依据).
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.events import CATALOGUE, Event

register = CATALOGUE.register("followup")

EvaluatorRole = Literal["self", "colleague", "unit_leader", "mentor"]
EVALUATOR_ROLES: dict[str, str] = {
    "self": "本人",
    "colleague": "同事",
    "unit_leader": "单位领导",
    "mentor": "导师",
}
MentorTask = Literal["core_decision", "urgent_matter", "important_process"]
MENTOR_TASKS: dict[str, str] = {
    "core_decision": "参与一件核心事务决策",
    "urgent_matter": "进行一次急难事件化解",
    "important_process": "策划一次重要事项流程",
}
MILESTONE_FOCUS: dict[int, str] = {1: "听思想", 3: "谈表现", 6: "考素质", 12: "看实绩"}


@register
class FollowUpPlanSet(Event, type="FollowUpPlanSet", version=1):
    """跟踪计划 — the months after graduation at which a class's milestones fall (default 1/3/6/12)."""

    class_id: str
    months: list[int]
    grace_days: int = Field(14, ge=0)


@register
class MilestoneScheduled(Event, type="MilestoneScheduled", version=1):
    """跟踪节点排定."""

    personal = ("name",)

    milestone_id: str
    class_id: str
    cadre_id: str
    name: str
    unit: str
    month: int
    due_on: date
    required_roles: list[EvaluatorRole]
    home_jurisdiction: str | None = None
    # The plan's grace period, so the milestone's own stream knows when it is overdue.
    grace_days: int = Field(14, ge=0)
    # The graduation the milestone follows, so nothing the trainee did after it (a talk) is dated
    # before it; None in events stored before this field existed.
    graduated_on: date | None = None


@register
class MilestoneDue(Event, type="MilestoneDue", version=1):
    """跟踪节点到期 — emitted exactly once per milestone."""

    milestone_id: str
    class_id: str
    cadre_id: str
    month: int
    due_on: date


@register
class EvaluationSubmitted(Event, type="EvaluationSubmitted", version=2):
    """跟踪评价 — by the trainee, a colleague, the unit leader or the mentor. The evaluator's
    name is sealed under their own id (the trainee's, for a self-evaluation); v2: the text,
    an evaluation of the trainee, under the trainee's."""

    personal = ("evaluator_name",)
    person_field = "evaluator_id"
    personal_of = {"text": "cadre_id"}

    milestone_id: str
    class_id: str
    cadre_id: str
    month: int
    role: EvaluatorRole
    evaluator_id: str
    evaluator_name: str
    scores: dict[str, float]
    text: str = ""
    submitted_on: date


@register
class MilestoneCompleted(Event, type="MilestoneCompleted", version=1):
    """跟踪节点完成 — every required evaluation is in."""

    milestone_id: str
    class_id: str
    cadre_id: str
    month: int
    completed_on: date
    on_time: bool
    average_score: float | None = None


@register
class MilestoneOverdue(Event, type="MilestoneOverdue", version=1):
    """跟踪节点逾期 — not completed within the grace period."""

    milestone_id: str
    class_id: str
    cadre_id: str
    month: int
    due_on: date
    missing_roles: list[EvaluatorRole]


@register
class MentorAssigned(Event, type="MentorAssigned", version=1):
    """1+1 导师帮带 — a mentor for a trainee (a later one replaces the earlier)."""

    class_id: str
    cadre_id: str
    mentor_id: str
    mentor_name: str
    mentor_post: str = ""
    replaces: str | None = None


class AttachmentRef(BaseModel):
    """A stored attachment an event refers to: its id in the follow-up service's store and the
    sha256 of its bytes, so what is downloaded later can be checked against what was recorded."""

    attachment_id: str
    name: str
    content_type: str
    size: int = Field(ge=0)
    sha256: str


@register
class MentorTaskCompleted(Event, type="MentorTaskCompleted", version=2):
    """导师帮带任务完成 — one of the three tasks, with evidence and the mentor's comment. v2: both
    texts, about the trainee, are sealed under the trainee's key."""

    personal = ("evidence", "comment")

    class_id: str
    cadre_id: str
    task: MentorTask
    evidence: str
    comment: str
    mentor_id: str
    done_on: date
    attachments: list[AttachmentRef] = Field(default_factory=list)


@register
class SharingTalkGiven(Event, type="SharingTalkGiven", version=2):
    """上讲台 — the trainee presented what they learned to their unit. v2: the topic, the
    trainee's own words about their work, is sealed under the trainee's key."""

    personal = ("topic",)

    talk_id: str
    class_id: str
    cadre_id: str
    on: date
    audience: str
    topic: str
    attendees: int = Field(0, ge=0)


class Author(BaseModel):
    """An outcome's author: a graduate of the class. `cadre_id` is None only in an outcome
    reported before v2, whose authors were the text typed (a name or a cadre id)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    cadre_id: str | None = None
    name: str


@register
class OutcomeReported(Event, type="OutcomeReported", version=2):
    """成果 — a research report (调研报告) or a proposal (金点子) from a class. v2: each author
    is a graduate of the class, their name sealed under their own key (an outcome belongs to
    several people, a key to one), so erasing one author leaves the others' names."""

    personal_each = {"authors": ("name", "cadre_id")}

    outcome_id: str
    class_id: str
    kind: Literal["report", "proposal"]
    title: str
    authors: list[Author] = Field(default_factory=list)
    # The day the outcome was handed in, so no endorsement is dated before it; None in events
    # stored before this field existed.
    on: date | None = None


@register
class OutcomeEndorsed(Event, type="OutcomeEndorsed", version=1):
    """领导批示 / 采纳 / 转化 — an outcome got a leader's approval, was adopted, or was turned
    into a rule or practice (转化, a unit's; `conversion` added for issue 18, so events
    stored before it still load)."""

    outcome_id: str
    class_id: str
    kind: Literal["approval", "adoption", "conversion"]
    by: str
    on: date
    note: str = ""


@register
class OutcomeDocumentAttached(Event, type="OutcomeDocumentAttached", version=1):
    """成果文档 — the outcome's own document (the report or the 金点子 as a PDF, Word file or
    image) stored by the follow-up service; the event carries its id and sha256, not its
    bytes. A later one replaces the earlier (`replaces`)."""

    outcome_id: str
    class_id: str
    document: AttachmentRef
    replaces: str | None = None


# v1 of these carried their texts in the clear; same shape, so the step up is the identity.
for _type in ("EvaluationSubmitted", "MentorTaskCompleted", "SharingTalkGiven"):
    CATALOGUE.upcaster(_type, 1)(dict)


@CATALOGUE.upcaster("OutcomeReported", 1)
def _authors_as_typed(payload: dict) -> dict:
    """v1 authors were the text typed, in the clear: each stays what it showed, a name."""
    return {**payload, "authors": [{"cadre_id": None, "name": a} for a in payload.get("authors", [])]}
