"""The deny matrix's rules (tests/matrix.py) on answers made up here: each kind of hole the
matrix looks for is reported, and the answers it must accept are (no server)."""

from tests import matrix as mx

WORLD = mx.World(
    ids={"class_id": "k-a", "cadre_id": "cd-a"},
    markers=("cd-a", "k-a", "马晓东"),
    jurisdiction="371428",
    jurisdiction_name="武城县",
)


def call(role="org_department", relation="own", status=200, code=None, text="{}", **kw) -> mx.Call:
    method = kw.pop("method", "get")
    c = mx.Call(
        "selection", method, "/classes/{class_id}", "/classes/k-a", ("org_department",), role, relation
    )
    c.status, c.text = status, text
    c.answer = {"code": code} if code else {}
    c.carries_ids = kw.pop("carries_ids", True)
    c.own_ids = kw.pop("own_ids", False)
    return c


def test_a_role_the_route_does_not_declare_must_get_403_wrong_role():
    assert mx.verdict(call(role="trainee", status=403, code="wrong_role"), WORLD) is None
    assert "not declared" in mx.verdict(call(role="trainee", status=200), WORLD)
    assert "not declared" in mx.verdict(call(role="trainee", status=404, code="class_not_found"), WORLD)


def test_a_declared_role_refused_as_a_role_means_the_declaration_is_wrong():
    assert "disagree" in mx.verdict(call(status=403, code="wrong_role"), WORLD)


def test_another_county_never_gets_2xx_for_a_s_ids_nor_learns_where_they_live():
    assert "reached" in mx.verdict(call(relation="other", status=200), WORLD)
    assert mx.verdict(call(relation="other", status=404, code="class_not_found"), WORLD) is None
    where = call(
        relation="unrelated", status=403, code="wrong_jurisdiction", text="无权访问辖区 371428 的数据"
    )
    assert "reveals" in mx.verdict(where, WORLD)
    assert "got 409" in mx.verdict(call(relation="other", status=409, code="conflict"), WORLD)


def test_a_list_of_another_county_holds_nothing_of_a_s():
    lists = call(relation="other", status=200, carries_ids=False, text='{"items":[{"name":"马晓东"}]}')
    assert "reveals" in mx.verdict(lists, WORLD)
    assert (
        mx.verdict(call(relation="other", status=200, carries_ids=False, text='{"items":[]}'), WORLD) is None
    )


def test_ids_per_jurisdiction_reach_the_caller_s_own_document():
    own = call(relation="other", status=200, own_ids=True, text='{"class_id":"k-a","default":true}')
    assert mx.verdict(own, WORLD) is None
    leaked = call(relation="other", status=200, own_ids=True, text='{"class_id":"k-a","by":"马晓东"}')
    assert "reveals" in mx.verdict(leaked, WORLD)


def test_a_stranger_trainee_reads_and_changes_nothing_of_a_s():
    c = call(role="trainee", status=200)
    c.roles = ("trainee",)
    assert "stranger trainee read" in mx.verdict(c, WORLD)
    c.status, c.answer = 403, {"code": "not_the_trainee"}
    assert mx.verdict(c, WORLD) is None


def test_a_server_error_is_always_a_problem():
    assert "server error" in mx.verdict(call(status=500, code="internal_error"), WORLD)


def test_another_county_s_answer_to_a_s_ids_must_equal_its_answer_to_made_up_ones():
    real = call(relation="other", status=403, code="wrong_jurisdiction")
    fake = call(relation="other", status=404, code="class_not_found")
    fake.made_up = True
    assert mx.unlike_unknown([real, fake]) == [
        "GET /classes/{class_id} as org_department@other: A's ids (403, 'wrong_jurisdiction'), "
        "made-up (404, 'class_not_found')"
    ]
    real.status, real.answer = 404, {"code": "class_not_found"}
    assert mx.unlike_unknown([real, fake]) == []
    own = call(relation="own", status=200)  # A's own answer is not compared
    assert mx.unlike_unknown([own, fake]) == []


def test_a_made_up_id_may_reach_the_caller_s_own_document():
    fake = call(relation="other", status=201, method="post")
    fake.made_up = True
    assert mx.verdict(fake, WORLD) is None
