"""The list contract, pure: paging parameters checked with a Chinese message naming the
parameter, searches on a normalised key, a page cut after sorting."""

import pytest

from shared import listing as lst
from shared.errors import DomainError

SORTS = {"name": "姓名", "birth_date": "出生日期"}
ROWS = [
    {"name": f"干部{i:02d}", "unit": "县财政局" if i % 2 else "县教育局", "birth_date": f"{1960 + i}-01-01"}
    for i in range(45)
]


def test_defaults_are_page_one_of_twenty_in_the_default_order():
    p = lst.checked({}, SORTS)
    out = lst.page_of(ROWS, p)
    assert (out["page"], out["size"], out["total"]) == (1, 20, 45)
    assert [r["name"] for r in out["items"]] == [f"干部{i:02d}" for i in range(20)]


def test_a_later_page_a_last_part_page_and_a_page_past_the_end():
    second = lst.page_of(ROWS, lst.checked({"page": "2", "size": "20"}, SORTS))["items"]
    assert second[0]["name"] == "干部20"
    assert len(lst.page_of(ROWS, lst.checked({"page": "3"}, SORTS))["items"]) == 5
    past = lst.page_of(ROWS, lst.checked({"page": "9"}, SORTS))
    assert past["items"] == [] and past["total"] == 45


def test_sorted_descending_by_a_field_then_cut():
    out = lst.page_of(ROWS, lst.checked({"sort": "birth_date", "order": "DESC", "size": "3"}, SORTS))
    assert [r["birth_date"] for r in out["items"]] == ["2004-01-01", "2003-01-01", "2002-01-01"]


def test_a_sort_key_of_the_list_own_ranks_the_rows():
    rank_order = {"正科": 0, "副科": 1}
    rows = [{"rank": "副科", "name": "a"}, {"rank": "正科", "name": "b"}, {"rank": None, "name": "c"}]
    out = lst.page_of(
        rows,
        lst.checked({"sort": "name"}, {"name": "姓名", "rank": "职级"}),
        {"rank": lambda r: rank_order.get(r["rank"], 99)},
    )
    assert [r["name"] for r in out["items"]] == ["a", "b", "c"]
    out = lst.page_of(
        rows,
        lst.checked({"sort": "rank"}, {"name": "姓名", "rank": "职级"}),
        {"rank": lambda r: rank_order.get(r["rank"], 99)},
    )
    assert [r["name"] for r in out["items"]] == ["b", "a", "c"]


@pytest.mark.parametrize(
    "raw, field, words",
    [
        ({"page": "0"}, "page", "页码“0”应为 1 到"),
        ({"page": "abc"}, "page", "页码“abc”"),
        ({"size": "201"}, "size", "每页条数“201”应为 1 到 200"),
        (
            {"sort": "id_number"},
            "sort",
            "不能按“id_number”排序；可用的排序字段：name（姓名）、birth_date（出生日期）",
        ),
        ({"order": "up"}, "order", "排序方向“up”应为 asc（升序）或 desc（降序）"),
    ],
)
def test_bad_parameters_are_refused_naming_what_was_wrong(raw, field, words):
    with pytest.raises(DomainError) as err:
        lst.checked(raw, SORTS)
    assert err.value.status == 422 and err.value.field == field and words in err.value.message


def test_the_search_key_folds_width_case_and_spaces():
    key = lst.search_key("张 伟", "县ＡＢＣ局")
    assert lst.checked({"q": "张伟"}, SORTS).q in key
    assert lst.checked({"q": "abc"}, SORTS).q in key
    assert lst.checked({"q": " 伟 "}, SORTS).q in key
    assert lst.checked({"q": "张伟县"}, SORTS).q not in key, "a search does not run across name and unit"


def test_everything_keeps_the_search_and_order_without_the_page():
    asked = {"page": "2", "size": "5", "sort": "name", "order": "desc", "q": "x"}
    p = lst.everything(lst.checked(asked, SORTS))
    assert (p.page, p.q, p.sort, p.desc) == (1, "x", "name", True) and p.size >= 20_000


def test_a_search_over_the_kept_text_finds_each_matching_row_once_in_order():
    rows = [
        {"_key": lst.search_key(n, u)} | {"name": n}
        for n, u in [("王明", "县财政局"), ("明明", "县委办"), ("李强", "明德镇"), ("赵刚", "县财政局")]
    ]
    text = lst.search_text(rows)
    assert [r["name"] for r in lst.search(rows, text, "明")] == ["王明", "明明", "李强"]
    assert [r["name"] for r in lst.search(rows, text, "财政")] == ["王明", "赵刚"]
    assert lst.search(rows, text, "局明明") == [], "a search never runs across two rows"
    assert lst.search(rows, text, "刚") == [rows[3]] and lst.search([], lst.search_text([]), "x") == []


def test_one_dependency_gives_every_list_route_the_same_parameters_checked_for_its_sorts():
    """`listing(SORTS)` is a list route's page, search and sort: documented as `paging_params`
    on every route that takes it, checked against that route's own sort fields."""
    from fastapi import Depends, FastAPI
    from fastapi.responses import JSONResponse
    from fastapi.testclient import TestClient

    app = FastAPI()
    app.exception_handler(DomainError)(lambda _, exc: JSONResponse(exc.to_dict(), status_code=exc.status))

    @app.get("/people")
    def people(p: lst.Paging = Depends(lst.listing(SORTS))):
        return {"sort": p.sort, "desc": p.desc, "q": p.q, "page": p.page}

    @app.get("/units")
    def units(p: lst.Paging = Depends(lst.listing({"unit": "单位"}))):
        return {"sort": p.sort}

    client = TestClient(app)
    paths = client.get("/openapi.json").json()["paths"]
    documented = [[q["name"] for q in paths[path]["get"]["parameters"]] for path in ("/people", "/units")]
    assert documented == [["page", "size", "q", "sort", "order"]] * 2
    assert client.get("/people?sort=birth_date&order=desc&q=干部 01&page=2").json() == {
        "sort": "birth_date",
        "desc": True,
        "q": "干部01",
        "page": 2,
    }
    refused = client.get("/units?sort=name")
    assert refused.status_code == 422 and refused.json()["field"] == "sort"
    assert "可用的排序字段：unit（单位）" in refused.json()["message"]
