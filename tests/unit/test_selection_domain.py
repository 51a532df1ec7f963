"""Given / when / then for the class aggregate: pure, no I/O."""

from datetime import date

import pytest

from services.selection.domain import ClassDecider, NominateTrainee, OpenClass
from shared.commands import fold
from shared.contracts.selection import ClassOpened, TraineeNominated
from shared.errors import DomainError, NotFound

D = ClassDecider()
OPENED = ClassOpened(class_id="c1", title="中青年干部培训班", capacity=2, starts_on=date(2026, 12, 1),
                     ends_on=date(2026, 12, 20), organiser="武城县委党校")


def nominate(cadre: str, today=date(2026, 11, 22)) -> NominateTrainee:
    return NominateTrainee(cadre_id=cadre, name=f"干部{cadre}", unit="县财政局", today=today)


def when(given: list, command):
    return D.decide(fold(D, given), command)


def test_opening_a_class():
    cmd = OpenClass("c1", "中青年干部培训班", 2, date(2026, 12, 1), date(2026, 12, 20), "武城县委党校")
    assert when([], cmd) == [OPENED]


def test_a_class_cannot_be_opened_twice():
    with pytest.raises(DomainError, match="已存在"):
        when([OPENED], OpenClass("c1", "x", 1, date(2026, 12, 1), date(2026, 12, 2), "x"))


def test_end_before_start_is_refused():
    with pytest.raises(DomainError, match="结束日期") as e:
        when([], OpenClass("c1", "x", 1, date(2026, 12, 2), date(2026, 12, 1), "x"))
    assert e.value.field == "ends_on"


def test_nominating_a_cadre():
    assert when([OPENED], nominate("a")) == [
        TraineeNominated(class_id="c1", cadre_id="a", name="干部a", unit="县财政局")
    ]


def test_nominating_into_an_unknown_class():
    with pytest.raises(NotFound):
        when([], nominate("a"))


def test_the_same_cadre_twice_is_refused():
    given = [OPENED, TraineeNominated(class_id="c1", cadre_id="a", name="干部a", unit="县财政局")]
    with pytest.raises(DomainError, match="已被推荐") as e:
        when(given, nominate("a"))
    assert e.value.code == "already_nominated"


def test_a_full_class_refuses_more():
    given = [OPENED] + [TraineeNominated(class_id="c1", cadre_id=c, name=c, unit="u") for c in "ab"]
    with pytest.raises(DomainError, match="名额已满") as e:
        when(given, nominate("c"))
    assert e.value.code == "class_full"


def test_a_started_class_refuses_nominations():
    with pytest.raises(DomainError, match="已于 2026-12-01 开班") as e:
        when([OPENED], nominate("a", today=date(2026, 12, 1)))
    assert e.value.code == "class_closed"
