"""Events published by the selection service (精准施训).

Other services read these: teaching and records build their class rosters from
ClassOpened / NominationConfirmed / NominationWithdrawn; the dashboard rolls up all of
them. Fields added later get defaults (same version); anything else gets a new
version and an upcaster.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.events import CATALOGUE, Event

register = CATALOGUE.register("selection")

Gender = Literal["男", "女"]
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def id_check_digit(first17: str) -> str:
    """GB 11643 (ISO 7064 MOD 11-2) check character of an 18-character 身份证号."""
    return _CHECK[sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=False)) % 11]


class StudyGroup(BaseModel):
    """学习小组 (e.g. Huzhou's six domains), led by a political advisor (政治辅导员)."""

    model_config = ConfigDict(frozen=True)
    name: str = Field(min_length=1, max_length=50)
    advisor: str = Field("", max_length=50)


# -- cadre registry (干部名册) ----------------------------------------------------
@register
class CadreRegistered(Event, type="CadreRegistered", version=2):
    """干部登记 — a cadre entered the jurisdiction's registry (by hand or import).

    `id_number` (身份证号) is the natural key. v2: `name`, `birth_date` and `id_number` are
    sealed under the cadre's own key on the wire (shared/personal.py), so no full number is
    readable on the bus; only selection opens the number. Once the cadre is erased they
    read "已删除" (the birth date None)."""

    personal = ("name", "birth_date", "id_number")
    erased_as = {"birth_date": None}

    cadre_id: str
    name: str
    gender: Gender
    birth_date: date | None
    id_number: str
    unit: str
    position: str = ""
    rank: str
    category: str = ""
    rank_since: date | None = None
    township_leadership: bool = False
    recruited_as: Literal["选调生", "选聘生"] | None = None
    recruited_year: int | None = None


@register
class CadreUpdated(Event, type="CadreUpdated", version=2):
    """干部信息变更 — only the fields that changed, with their new values. v2: a changed name
    or birth date is sealed like CadreRegistered's."""

    personal = ("changes.name", "changes.birth_date")
    erased_as = {"changes.birth_date": None}

    cadre_id: str
    changes: dict[str, object]


# v1 carried the same fields in the clear (a v1 event's values are plain, and `sealed` empty):
# the payload is the same shape, so the step up is the identity.
CATALOGUE.upcaster("CadreRegistered", 1)(dict)
CATALOGUE.upcaster("CadreUpdated", 1)(dict)


# Erasure grounds of 个人信息保护法 Art. 47 (a fixed list: a free text could name the person).
ERASURE_GROUNDS = {
    "purpose_achieved": "处理目的已实现、无法实现或者为实现处理目的不再必要",
    "ceased": "停止提供服务或者保存期限已届满",
    "consent_withdrawn": "个人撤回同意",
    "unlawful": "违反法律、行政法规或者违反约定处理个人信息",
    "other": "法律、行政法规规定的其他情形",
}
ErasureGround = Literal["purpose_achieved", "ceased", "consent_withdrawn", "unlawful", "other"]


@register
class CadreErased(Event, type="CadreErased", version=1):
    """个人信息删除 — the department erased a cadre's personal data (PIPL Art. 47): their key
    is deleted, so every sealed value of theirs is unreadable, and every projection shows
    "已删除" in their place. Carries no personal data itself: the pseudonymous id, the
    ground (a code), and the actor in the envelope.

    A deployment that held the person under its own key (a province that nominated a
    county's cadre to its class) records its own when it hears another deployment's
    erasure (services/selection/erasures.py): the system is the actor, `following` the
    jurisdiction whose erasure it follows, `reason` says so in Chinese. Both are None for a
    department's own erasure."""

    cadre_id: str
    ground: ErasureGround
    following: str | None = None
    reason: str | None = None


# -- classes (班次) ---------------------------------------------------------------
@register
class ClassOpened(Event, type="ClassOpened", version=1):
    """班次开设 — a class was opened for selection."""

    class_id: str
    title: str = Field(min_length=1, max_length=200)
    capacity: int = Field(gt=0, le=5000)
    starts_on: date
    ends_on: date
    organiser: str = Field(min_length=1, max_length=100)
    theme: str = ""
    category: str = ""  # 分类, e.g. 年轻干部, 村(社区)党组织书记
    level: str = ""  # 分级, e.g. 科级
    schedule: str = ""  # e.g. 每月第二、第四个星期六
    study_groups: list[StudyGroup] = Field(default_factory=list)
    quotas: dict[str, int] = Field(default_factory=dict)  # recommending unit -> places


@register
class ScopeDrawn(Event, type="ScopeDrawn", version=1):
    """划定人选范围 — the department set (or reset) the criteria and the resulting scope."""

    class_id: str
    criteria: dict[str, object]
    cadre_ids: list[str]


# -- recommendation and confirmation (单位推荐, 组织确定) -------------------------
@register
class TraineeNominated(Event, type="TraineeNominated", version=1):
    """学员推荐 — a unit recommended a cadre for a class."""

    personal = ("name",)

    class_id: str
    cadre_id: str
    name: str
    unit: str
    home_jurisdiction: str | None = None


@register
class NominationConfirmed(Event, type="NominationConfirmed", version=1):
    """组织确定 — the department confirmed a nominee as a trainee of the class.

    `from_waitlist` marks a promotion when a confirmed trainee left."""

    personal = ("name",)

    class_id: str
    cadre_id: str
    name: str
    unit: str
    home_jurisdiction: str | None = None
    from_waitlist: bool = False


@register
class NominationRejected(Event, type="NominationRejected", version=2):
    """不予确定 — the department rejected a nominee, with the reason. v2: the reason (a free
    text about the nominee) is sealed under the nominee's key."""

    personal = ("reason",)

    class_id: str
    cadre_id: str
    reason: str


@register
class NominationWaitlisted(Event, type="NominationWaitlisted", version=1):
    """列入候补 — the nominee waits for a free place (first come, first promoted)."""

    class_id: str
    cadre_id: str


@register
class NominationWithdrawn(Event, type="NominationWithdrawn", version=2):
    """撤回推荐 / 退训 — the unit withdrew a nominee or a confirmed trainee before the start.
    v2: the reason is sealed under the nominee's key."""

    personal = ("reason",)

    class_id: str
    cadre_id: str
    reason: str = ""
    was_confirmed: bool = False


@register
class TraineeAssignedToGroup(Event, type="TraineeAssignedToGroup", version=1):
    """分组 — a confirmed trainee was placed in a study group."""

    class_id: str
    cadre_id: str
    group: str


# v1 of these carried their free texts in the clear; same shape, so the step up is the identity.
CATALOGUE.upcaster("NominationRejected", 1)(dict)
CATALOGUE.upcaster("NominationWithdrawn", 1)(dict)
