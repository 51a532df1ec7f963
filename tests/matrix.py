"""The deny matrix's pure parts: requests made from the services' OpenAPI documents, and the
answer each must get, from the roles each route declares (shared/access.py).

A request is one route × one role × one relation of the token's jurisdiction to the small
world the test builds in county A: `own` (A), `other` (another county of the same
province), `city` and `province` (A's ancestors, which cover it) and `unrelated` (a county
of another province). tests/integration/test_deny_matrix.py builds the world, sends the
requests to the real services and checks every answer with `verdict`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from shared.access import declared, ids_per_jurisdiction

RELATIONS = ("own", "other", "city", "province", "unrelated")
FOREIGN = ("other", "unrelated")
# People whose token names one person: a stranger's token (not the trainee, mentor or
# recorder of anything in the world) must read and change nothing that names A's ids.
PERSONS = ("trainee", "mentor", "recorder")
METHODS = ("get", "post", "put", "patch", "delete")
# Routes that never end (a live stream) or answer static files are left out.
SKIP = {"/api/stream"}


@dataclass
class World:
    """County A's small world: real ids of things that exist there, and the words that
    must never reach a token of another county."""

    ids: dict[str, Any]  # path parameter or body field name -> a value of A's
    markers: tuple[str, ...]  # texts of A's (ids, names) that a foreign answer must not hold
    jurisdiction: str
    jurisdiction_name: str
    # The same keys with made-up values of the same shape (a class id in A's namespace, a
    # cadre id, a valid 身份证号 nobody registered): what an unknown id answers.
    fakes: dict[str, Any] = field(default_factory=dict)

    def made_up(self) -> World:
        return World({**self.ids, **self.fakes}, self.markers, self.jurisdiction, self.jurisdiction_name)


@dataclass
class Call:
    service: str
    method: str
    path: str  # the template, as the OpenAPI document has it
    url_path: str
    roles: tuple[str, ...]
    role: str
    relation: str
    json: Any = None
    files: dict[str, tuple[str, bytes, str]] | None = None
    carries_ids: bool = False  # the path or body names one of A's ids
    own_ids: bool = False  # the route declares its ids per jurisdiction (shared/access.py)
    made_up: bool = False  # the twin of a foreign call, with made-up ids in place of A's
    status: int = 0
    seconds: float = 0.0
    answer: dict = field(default_factory=dict)
    text: str = ""

    @property
    def admitted(self) -> bool:
        return self.role in self.roles

    @property
    def mutates(self) -> bool:
        return self.method != "get"


def _resolve(schema: dict, doc: dict) -> dict:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        schema = doc["components"]["schemas"][name]
    return schema


def _string(schema: dict) -> str:
    fmt = schema.get("format")
    if fmt == "date":
        return "2027-04-06"
    if fmt == "date-time":
        return "2027-04-06T09:00:00"
    if fmt == "time":
        return "09:00:00"
    value = "mx1"
    if schema.get("pattern") and not re.match(schema["pattern"], value):
        value = "1"
    return value.ljust(schema.get("minLength", 0), "1")[: schema.get("maxLength", 64)]


def _number(schema: dict, kind: type) -> int | float:
    if "minimum" in schema:
        return kind(schema["minimum"])
    if "exclusiveMinimum" in schema:
        return kind(schema["exclusiveMinimum"] + 1)
    return kind(1)


def example(schema: dict, doc: dict, world: World, name: str = "") -> Any:
    """A small value the schema accepts, with A's ids where a field is named for one."""
    schema = _resolve(schema, doc)
    if name in world.ids:
        value = world.ids[name]
        return [value] if schema.get("type") == "array" and not isinstance(value, list) else value
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if _resolve(s, doc).get("type") != "null"]
            return example(options[0], doc, world, name) if options else None
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        required = set(schema.get("required", []))
        return {
            k: example(v, doc, world, k)
            for k, v in schema.get("properties", {}).items()
            if k in required or k in world.ids
        }
    if kind == "array":
        return [
            example(schema.get("items", {}), doc, world) for _ in range(max(schema.get("minItems", 0), 1))
        ]
    if kind == "integer":
        return _number(schema, int)
    if kind == "number":
        return _number(schema, float)
    if kind == "boolean":
        return False
    return _string(schema)


def _path(template: str, op: dict, doc: dict, world: World) -> tuple[str, bool]:
    carries = False
    out = template
    for param in op.get("parameters", []):
        if param.get("in") != "path":
            continue
        name = param["name"]
        if name in world.ids:
            value, carries = str(world.ids[name]), True
        else:
            value = str(example(param.get("schema", {}), doc, world, name))
        out = out.replace("{" + name + "}", value).replace("{" + name + ":path}", value)
    return out, carries


def _body(op: dict, doc: dict, world: World) -> tuple[Any, dict | None, bool]:
    content = op.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        body = example(content["application/json"]["schema"], doc, world)
        return body, None, _names_ids(body, world)
    if "multipart/form-data" in content:
        schema = _resolve(content["multipart/form-data"]["schema"], doc)
        files = {
            k: ("名册.xlsx", b"not a spreadsheet", "application/octet-stream") for k in schema["properties"]
        }
        return None, files, False
    return None, None, False


def _names_ids(body: Any, world: World) -> bool:
    values = {str(v) for v in world.ids.values() if not isinstance(v, list)}
    return any(v in str(body) for v in values)


def calls(
    service: str,
    doc: dict,
    world: World,
    tokens: dict[tuple[str, str], Any],
    gate_relations: tuple[str, ...] = RELATIONS,
) -> list[Call]:
    """Every operation of the document × every (role, relation) of `tokens`; a role the route
    does not admit only from `gate_relations` (the role gate, shared/access.py, refuses it
    before anything reads the token's jurisdiction, so one relation shows the gate)."""
    out = []
    for template, ops in doc["paths"].items():
        if template in SKIP:
            continue
        for method, op in ops.items():
            roles = declared(op) if method in METHODS else None
            if roles is None:
                continue  # open routes (health checks) declare none
            url_path, in_path = _path(template, op, doc, world)
            body, files, in_body = _body(op, doc, world)
            fake_path, _ = _path(template, op, doc, world.made_up())
            fake_body, _, _ = _body(op, doc, world.made_up())
            for role, relation in tokens:
                if role not in roles and relation not in gate_relations:
                    continue
                call = Call(service, method, template, url_path, roles, role, relation, body, files)
                call.carries_ids = in_path or in_body
                call.own_ids = ids_per_jurisdiction(op)
                out.append(call)
                if call.carries_ids and relation == "other" and role in roles and world.fakes:
                    twin = Call(service, method, template, fake_path, roles, role, relation, fake_body, files)
                    twin.carries_ids, twin.own_ids, twin.made_up = True, call.own_ids, True
                    out.append(twin)
    return out


# Where the answer to A's real id cannot equal an unknown one's, and why (docs/identity.md):
# a person is registered in one county of the province only, so registering (or importing,
# or transferring in) a 身份证号 another county holds is refused as "registered elsewhere".
SAME_AS_UNKNOWN_EXCEPT = {("post", "/cadres")}


def unlike_unknown(calls: list[Call]) -> list[str]:
    """Another county's answers to A's real ids that differ (status or code) from its answers
    to made-up ids of the same shape: the difference tells that the id exists elsewhere."""
    twins = {(c.service, c.method, c.path, c.role): c for c in calls if c.made_up}
    out = []
    for c in calls:
        twin = twins.get((c.service, c.method, c.path, c.role))
        if c.made_up or c.relation != "other" or twin is None or (c.method, c.path) in SAME_AS_UNKNOWN_EXCEPT:
            continue
        if c.own_ids:  # the ids reach the caller's own documents (both answers are about them)
            continue
        real, fake = (c.status, c.answer.get("code")), (twin.status, twin.answer.get("code"))
        if real != fake:
            out.append(f"{c.method.upper()} {c.path} as {c.role}@other: A's ids {real}, made-up {fake}")
    return out


def phase(c: Call) -> int:
    """Denied and foreign requests first, while the world is as built; then what A's own
    and its ancestors' tokens may read, and last what they may change."""
    if not c.admitted or c.relation in FOREIGN or c.role in PERSONS:
        return 0
    return 2 if c.mutates else 1


def _leaks(c: Call, world: World) -> str | None:
    """A's words in the answer that the request did not name itself (an id the caller typed
    may come back in "not found"; A's names, its county and other ids may not)."""
    asked = c.url_path + str(c.json)
    words = (*world.markers, world.jurisdiction, world.jurisdiction_name)
    found = [w for w in words if w and w in c.text and w not in asked]
    return f"reveals {found}" if found else None


def verdict(c: Call, world: World) -> str | None:
    """What is wrong with the answer `c` got, or None."""
    code = c.answer.get("code") if isinstance(c.answer, dict) else None
    if c.status >= 500 and not (c.status == 503 and code == "identity_provider_unavailable"):
        return f"server error {c.status} {code}"
    if not c.admitted:
        return (
            None if (c.status, code) == (403, "wrong_role") else f"role not declared, got {c.status} {code}"
        )
    if code == "wrong_role":
        return "declared role refused with wrong_role (declaration and route disagree)"
    ok = 200 <= c.status < 300
    if c.relation in FOREIGN:
        # A route whose ids are per jurisdiction answers another county about its own
        # document of that id: only the leak check below applies.
        reaches = c.carries_ids and not c.own_ids and not c.made_up
        if reaches and ok:
            return f"another county's token reached A's ids: {c.status}"
        if reaches and c.status not in (403, 404, 422):
            return f"another county's token got {c.status} {code} for A's ids"
        if not c.mutates or not ok:
            return _leaks(c, world)
        return None
    if c.role in PERSONS and c.carries_ids and ok and not c.mutates:
        return f"a stranger {c.role} read A's data: {c.status}"
    if c.role in PERSONS and c.carries_ids and ok:
        return f"a stranger {c.role} changed A's data: {c.status}"
    return None
