"""Given / when / then for the cadre registry: the 身份证号 check, validation of a
record, the cadre aggregate, and reading an import file. Pure, no I/O."""

import csv
import io
from datetime import date

import pytest
from openpyxl import Workbook

from services.selection import cadres as reg
from services.selection.domain import CadreDecider, RecordCadre, UpdateCadre
from services.selection.importing import check, read_rows
from shared.commands import fold
from shared.contracts.selection import CadreRegistered, CadreUpdated
from shared.errors import DomainError, NotFound


def ids(id_number: str) -> str:
    """Cadre ids as a deployment with this test's secret gives them."""
    return reg.cadre_id_for(id_number, b"a province's secret, for tests")


D = CadreDecider()


def idn(birth: str = "19900501", seq: str = "123") -> str:
    first17 = "371428" + birth + seq
    return first17 + reg.id_check_digit(first17)


def raw(**kw) -> dict:
    base = {
        "name": "张伟",
        "id_number": idn(),
        "unit": "县财政局",
        "rank": "副科",
        "category": "经济发展",
        "township_leadership": "是",
        "recruited_as": "选调生",
        "recruited_year": 2015,
    }
    return {**base, **kw}


def test_the_check_digit_of_a_known_number():
    assert reg.id_check_digit("11010519491231002") == "X"
    assert reg.id_problem("11010519491231002X") is None


def test_a_wrong_check_digit_names_the_right_one():
    good = idn()
    wrong = good[:17] + ("0" if good[17] != "0" else "1")
    assert f"末位应为 {good[17]}" in reg.id_problem(wrong)


def test_malformed_numbers_and_impossible_birth_dates():
    assert "18 位" in reg.id_problem("3714281990")
    first17 = "37142819901301123"
    assert "出生日期无效" in reg.id_problem(first17 + reg.id_check_digit(first17))


def test_masking_shows_first_six_and_last_four():
    assert reg.mask_id("11010519491231002X") == "110105********002X"


def test_a_valid_record_takes_gender_and_birth_date_from_the_id():
    record, errors = reg.validate(raw())
    assert errors == []
    assert record["birth_date"] == "1990-05-01" and record["gender"] == "男"  # 17th digit 3 is odd
    assert record["township_leadership"] is True and record["recruited_year"] == 2015


@pytest.mark.parametrize(
    "change, says",
    [
        ({"unit": ""}, "缺少工作单位"),
        ({"rank": "大科长"}, "职级“大科长”不在职级表中"),
        ({"name": " "}, "缺少姓名"),
        ({"birth_date": "1991-01-01"}, "与身份证号中的 1990-05-01 不符"),
        ({"gender": "女"}, "性别“女”与身份证号不符"),
        ({"recruited_as": "公务员"}, "录用方式"),
        ({"township_leadership": "也许"}, "应填“是”或“否”"),
    ],
)
def test_invalid_records_say_why(change, says):
    record, errors = reg.validate(raw(**change))
    assert record is None and any(says in e for e in errors), errors


def test_registering_a_cadre():
    record, _ = reg.validate(raw())
    [event] = D.decide(None, RecordCadre("cd-1", record))
    assert event == CadreRegistered(cadre_id="cd-1", **record)


def test_recording_the_same_record_again_changes_nothing():
    record, _ = reg.validate(raw())
    given = fold(D, [CadreRegistered(cadre_id="cd-1", **record)])
    assert D.decide(given, RecordCadre("cd-1", record)) == []


def test_a_changed_record_emits_only_the_changes():
    record, _ = reg.validate(raw())
    given = fold(D, [CadreRegistered(cadre_id="cd-1", **record)])
    moved = {**record, "unit": "县委办", "rank": "正科"}
    assert D.decide(given, RecordCadre("cd-1", moved)) == [
        CadreUpdated(cadre_id="cd-1", changes={"unit": "县委办", "rank": "正科"})
    ]


def test_updating_checks_the_fields_and_the_rules():
    record, _ = reg.validate(raw())
    given = fold(D, [CadreRegistered(cadre_id="cd-1", **record)])
    assert D.decide(given, UpdateCadre("cd-1", {"position": "副局长"})) == [
        CadreUpdated(cadre_id="cd-1", changes={"position": "副局长"})
    ]
    with pytest.raises(DomainError) as e:
        D.decide(given, UpdateCadre("cd-1", {"id_number": idn(seq="999")}))
    assert e.value.code == "field_not_editable"
    with pytest.raises(DomainError) as e:
        D.decide(given, UpdateCadre("cd-1", {"rank": "大科长"}))
    assert e.value.code == "invalid_cadre"
    with pytest.raises(NotFound):
        D.decide(None, UpdateCadre("cd-9", {"position": "x"}))


def test_cadre_ids_are_stable_per_id_number():
    assert ids(idn()) == ids(idn()) != ids(idn(seq="124"))


HEADER = [
    "姓名",
    "性别",
    "出生日期",
    "身份证号",
    "工作单位",
    "职务",
    "职级",
    "类别",
    "任现职级时间",
    "乡镇领导经历",
    "录用方式",
    "录用年份",
]


def _rows():
    ok = [
        "张伟",
        "男",
        date(1990, 5, 1),
        idn(),
        "县财政局",
        "科长",
        "副科",
        "经济发展",
        "2020-01-01",
        "是",
        "选调生",
        2015,
    ]
    bad_digit = [
        "李娜",
        "",
        "",
        idn(seq="224")[:17] + ("0" if idn(seq="224")[17] != "0" else "1"),
        "县委办",
        "",
        "科员",
        "",
        "",
        "否",
        "",
        "",
    ]
    no_unit = ["王强", "", "", idn(seq="335"), "", "", "科员", "", "", "", "", ""]
    dup = ["张伟", "男", "1990-05-01", idn(), "县财政局", "", "副科", "", "", "", "", ""]
    return [HEADER, ok, bad_digit, no_unit, [None] * 12, dup]


def test_an_xlsx_import_reports_each_bad_row():
    wb = Workbook()
    for r in _rows():
        wb.active.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    checked = check(read_rows("名册.xlsx", buf.getvalue()), ids)
    assert [row for row, _, _ in checked.good] == [2]
    assert [(b["row"], b["name"]) for b in checked.bad] == [(3, "李娜"), (4, "王强"), (6, "张伟")]
    assert "校验位" in checked.bad[0]["errors"][0] and checked.bad[1]["errors"] == ["缺少工作单位"]
    assert "与第 2 行重复" in checked.bad[2]["errors"][0]
    assert "********" in checked.bad[0]["id_number"]


def test_a_csv_import_in_gbk_reads_the_same():
    buf = io.StringIO()
    csv.writer(buf).writerows([[("" if v is None else v) for v in r] for r in _rows()])
    checked = check(read_rows("名册.csv", buf.getvalue().encode("gb18030")), ids)
    assert len(checked.good) == 1 and [b["row"] for b in checked.bad] == [3, 4, 6]


def test_a_file_without_the_required_columns_is_refused():
    with pytest.raises(DomainError) as e:
        read_rows("x.csv", "姓名,单位\n张伟,县委办\n".encode())
    assert e.value.code == "bad_header" and "身份证号" in e.value.message
    with pytest.raises(DomainError) as e:
        read_rows("x.txt", b"")
    assert e.value.code == "bad_file"
