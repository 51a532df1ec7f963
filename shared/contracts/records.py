"""Events published by the records service (纪实考察).

Records are never deleted or edited: a correction is a new RecordLogged whose
`corrects` names the record it corrects.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.events import CATALOGUE, Event

register = CATALOGUE.register("records")

RecorderRole = Literal["head_teacher", "branch_secretary", "class_monitor", "committee_member"]
RECORDER_ROLES: dict[str, str] = {
    "head_teacher": "班主任",
    "branch_secretary": "支部书记",
    "class_monitor": "班长",
    "committee_member": "班委",
}
CORE_ROLES = ("head_teacher", "branch_secretary", "class_monitor")  # the "3" of 3+N
Category = Literal["study", "thinking", "personality", "conduct", "other"]
CATEGORIES: dict[str, str] = {
    "study": "学习情况",
    "thinking": "思想动态",
    "personality": "性格特点",
    "conduct": "作风纪律",
    "other": "其他",
}


@register
class RecorderAssigned(Event, type="RecorderAssigned", version=2):
    """纪实人员任命 — a person holds a 3+N role in a class from `since`. v2: the name is sealed
    under the person's own key (the class monitor and the committee members are trainees)."""

    personal = ("name",)
    person_field = "person_id"

    class_id: str
    person_id: str
    name: str
    role: RecorderRole
    since: date


@register
class RecorderRelieved(Event, type="RecorderRelieved", version=1):
    """纪实人员卸任."""

    class_id: str
    person_id: str
    role: RecorderRole
    until: date


@register
class RecordLogged(Event, type="RecordLogged", version=2):
    """纪实记录 — a real-name observation of a trainee by a 3+N recorder. v2: the text is
    sealed under the trainee's key, the author's name under the author's own."""

    personal = ("text",)
    personal_of = {"author_name": "author_id"}

    record_id: str
    class_id: str
    cadre_id: str
    category: Category
    observed_on: date
    text: str = Field(min_length=1, max_length=5000)
    author_id: str
    author_name: str
    author_role: RecorderRole
    corrects: str | None = None


class ItemScore(BaseModel):
    model_config = ConfigDict(frozen=True)
    item_id: str
    points: float


@register
class AssessmentSchemeSet(Event, type="AssessmentSchemeSet", version=1):
    """量化考核方案 — the items, groups, maximum points and scoring roles of a class's scheme."""

    class_id: str
    scheme_id: str
    title: str
    items: list[dict[str, object]]


@register
class AssessmentScored(Event, type="AssessmentScored", version=2):
    """量化考核评分 — scores of one trainee for one week, by one scorer. v2: the note is sealed
    under the trainee's key, the scorer's name under the scorer's own."""

    personal = ("note",)
    personal_of = {"scorer_name": "scorer_id"}

    class_id: str
    cadre_id: str
    week: date
    scores: list[ItemScore]
    scorer_id: str
    scorer_name: str
    scorer_role: str
    note: str = ""


@register
class SupervisionNoted(Event, type="SupervisionNoted", version=1):
    """跟班记录 — department staff following the class log a supervision note."""

    class_id: str
    note_id: str
    on: date
    text: str
    author_name: str


@register
class FinalCommentWritten(Event, type="FinalCommentWritten", version=2):
    """结业鉴定评语 — the head teacher's final comment on a trainee. v2: the text is sealed
    under the trainee's key (the head teacher, party-school staff in office, stays named)."""

    personal = ("text",)

    class_id: str
    cadre_id: str
    text: str
    author_name: str
    author_role: RecorderRole = "head_teacher"


# v1 of these carried their texts and names in the clear; same shape, so the step up is the
# identity.
for _type in ("RecorderAssigned", "RecordLogged", "AssessmentScored", "FinalCommentWritten"):
    CATALOGUE.upcaster(_type, 1)(dict)
