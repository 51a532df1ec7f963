"""The bus's pure rules: which ACLs a deployment's principal gets, which events a
consumer believes (provenance), and that a document stays its own county's."""

import asyncio
import ssl
from datetime import date

import pytest

from services.selection.projections import cadres
from services.teaching.projections import roster
from shared import bus_access as ba
from shared.commands import CommandHandler, Context
from shared.contracts.selection import CadreRegistered, CadreUpdated, ClassOpened, TraineeNominated
from shared.events import Actor
from shared.projection import OWNER, ApplyFailed, ForeignJurisdiction, Projection
from shared.projector import provenance_error


def ctx(code: str) -> Context:
    return Context(
        actor=Actor(user_id="u1", name="张三", role="org_department"),
        jurisdiction=code,
        correlation_id="corr-1",
    )


def grants(acls, resource_type, name):
    return {(a.pattern, a.operation) for a in acls if (a.resource_type, a.name) == (resource_type, name)}


RW = {ba.READ, ba.WRITE, ba.CREATE, ba.DESCRIBE, ba.DESCRIBE_CONFIGS}


def test_a_county_writes_its_own_topics_and_only_reads_its_ancestors():
    acls = ba.acl_plan(["371428"])
    for svc in ("selection", "teaching", "records", "followup"):
        assert {op for p, op in grants(acls, ba.TOPIC, f"ganxun.{svc}.371428")} == RW
        assert {p for p, _ in grants(acls, ba.TOPIC, f"ganxun.{svc}.371428")} == {ba.LITERAL}
        for above in ("371400", "370000"):
            assert grants(acls, ba.TOPIC, f"ganxun.{svc}.{above}") == {
                (ba.LITERAL, ba.READ),
                (ba.LITERAL, ba.DESCRIBE),
            }
        assert grants(acls, ba.GROUP, f"ganxun.{svc}.371428.") == {(ba.PREFIXED, ba.READ)}
        assert ba.WRITE in {op for _, op in grants(acls, ba.TOPIC, f"ganxun.dlq.{svc}.371428")}
    # Nothing prefixed on topics: a county's grants name exact topics only.
    assert not [a for a in acls if a.resource_type == ba.TOPIC and a.pattern == ba.PREFIXED]
    assert not [a for a in acls if "530129" in a.name]


def test_a_province_reads_and_writes_under_its_prefix_and_the_dashboard_only_reads():
    acls = ba.acl_plan(["430000"])
    assert {op for p, op in grants(acls, ba.TOPIC, "ganxun.selection.43")} == RW
    assert {p for p, _ in grants(acls, ba.TOPIC, "ganxun.selection.43")} == {ba.PREFIXED}
    dash = ba.acl_plan(["430000"], "dashboard")
    assert grants(dash, ba.TOPIC, "ganxun.selection.43") == {
        (ba.PREFIXED, ba.READ),
        (ba.PREFIXED, ba.DESCRIBE),
    }
    assert not [a for a in dash if a.operation == ba.WRITE and not a.name.startswith("ganxun.dlq.dashboard.")]
    assert grants(dash, ba.GROUP, "ganxun.dashboard.430000.") == {(ba.PREFIXED, ba.READ)}
    assert ba.principal_name("430000", "dashboard") == "ganxun-dashboard-430000"
    assert ba.principal_name("371428-530129", "teaching") == "ganxun-371428-530129"


def test_an_event_is_believed_only_on_its_own_jurisdictions_topic():
    (env,) = CommandHandler.envelopes(
        "cadre-x", 0, [CadreUpdated(cadre_id="x", changes={"unit": "县财政局"})], ctx("530129")
    )
    assert provenance_error("ganxun.selection.530129", env) is None
    forged = provenance_error("ganxun.selection.371428", env)
    assert forged and "530129" in forged and "ganxun.selection.371428" in forged
    assert provenance_error("somewhere.else", env).startswith("provenance:")


def _registered(cadre_id: str, name: str) -> CadreRegistered:
    return CadreRegistered(
        cadre_id=cadre_id,
        name=name,
        gender="女",
        birth_date=date(1990, 3, 1),
        id_number="37142819900301002X",
        unit="县财政局",
        rank="副科",
    )


def test_another_county_cannot_change_a_document_it_does_not_own():
    # given county 530129's cadre in a deployment serving both counties
    (mine,) = CommandHandler.envelopes("cadre-c9", 0, [_registered("c9", "陈静")], ctx("530129"))
    docs: dict = {}
    assert cadres.fold(docs, [(*_routed(cadres, mine, _registered("c9", "陈静")),)]) == {"c9"}
    assert docs["c9"]["_applied"][OWNER] == "530129"
    # when county 371428 sends an event (valid on its own topic) aimed at the same id
    change = CadreUpdated(cadre_id="c9", changes={"name": "冒名"})
    (theirs,) = CommandHandler.envelopes("cadre-c9", 1, [change], ctx("371428"))
    # then the fold refuses it and the document is unchanged
    with pytest.raises(ApplyFailed) as e:
        cadres.fold(docs, [_routed(cadres, theirs, change)])
    assert isinstance(e.value.cause, ForeignJurisdiction) and "530129" in str(e.value)
    assert docs["c9"]["name"] == "陈静"


def test_the_province_may_still_add_to_a_countys_document():
    opened = ClassOpened(
        class_id="c1",
        title="班",
        capacity=3,
        starts_on=date(2026, 12, 1),
        ends_on=date(2026, 12, 2),
        organiser="党校",
    )
    nominated = TraineeNominated(class_id="c1", cadre_id="a", name="李四", unit="县委办")
    (o,) = CommandHandler.envelopes("class-c1", 0, [opened], ctx("371428"))
    (n,) = CommandHandler.envelopes("class-c1", 1, [nominated], ctx("370000"))
    docs: dict = {}
    assert roster.fold(docs, [_routed(roster, o, opened), _routed(roster, n, nominated)]) == {"c1"}
    assert docs["c1"]["size"] == 1


def test_a_document_owned_by_the_jurisdiction_its_key_names_admits_every_county_below_it():
    """Follow-up's class report of a province-run class (`owner`): each county's graduates
    write to it; a document stored owned by the first county is widened to the province; a
    county outside the province still cannot write to it."""
    effect = Projection("effect", sources=("followup",), owner=lambda env, ev: ev.class_id.split("-")[0])

    @effect.on(TraineeNominated, key=lambda env, ev: ev.class_id)
    def _add(doc, env, ev):
        doc.setdefault("people", []).append(ev.cadre_id)

    def event(cadre_id: str, code: str, version: int = 0):
        ev = TraineeNominated(class_id="430000-p1", cadre_id=cadre_id, name="某", unit="县委办")
        (env,) = CommandHandler.envelopes(f"t-{cadre_id}", version, [ev], ctx(code))
        return _routed(effect, env, ev)

    docs: dict = {}
    effect.fold(docs, [event("a", "431102"), event("b", "431121")])
    assert docs["430000-p1"]["people"] == ["a", "b"] and docs["430000-p1"]["_applied"][OWNER] == "430000"
    stored = {"430000-p1": {"_id": "430000-p1", "_applied": {OWNER: "431102"}, "people": ["a"]}}
    effect.fold(stored, [event("b", "431121")])
    assert stored["430000-p1"]["_applied"][OWNER] == "430000"
    with pytest.raises(ApplyFailed) as e:
        effect.fold(docs, [event("c", "371428")])
    assert isinstance(e.value.cause, ForeignJurisdiction) and docs["430000-p1"]["people"] == ["a", "b"]


def _routed(projection, env, ev):
    doc_id, handler = projection.route(env, ev)
    return doc_id, env, ev, handler


def test_bus_settings_say_what_is_missing_and_never_print_the_password(monkeypatch):
    from shared.kafka import Connection
    from shared.settings import Settings

    # The integration fixtures put the super-user's credentials in this process's environment.
    for key in ("GANXUN_KAFKA_PASSWORD", "GANXUN_KAFKA_USERNAME", "GANXUN_KAFKA_SECURITY_PROTOCOL"):
        monkeypatch.delenv(key, raising=False)

    with pytest.raises(ValueError, match="需要用户名与密码"):
        _ = Settings(kafka_security_protocol="SASL_SSL", kafka_username="ganxun-371428").bus
    with pytest.raises(ValueError, match="安全协议“SASL”无效"):
        Connection("127.0.0.1:9092", "SASL")
    conn = Settings(
        kafka_security_protocol="SASL_PLAINTEXT", kafka_username="ganxun-371428", kafka_password="s3cret-pw"
    ).bus
    assert conn.client_kwargs()["sasl_mechanism"] == "SCRAM-SHA-512"
    assert "s3cret-pw" not in repr(conn)
    assert conn.env()["GANXUN_KAFKA_USERNAME"] == "ganxun-371428"


def test_a_tls_connection_names_a_ca_file_it_cannot_use(tmp_path):
    from shared.kafka import Connection

    garbage = tmp_path / "not-a-cert.pem"
    garbage.write_text("这不是证书")
    for bad in (tmp_path / "missing.pem", garbage):
        with pytest.raises(
            ValueError, match="CA 证书文件.*无法读取或不是 PEM 格式的证书.*GANXUN_KAFKA_CA_FILE"
        ):
            Connection("127.0.0.1:9093", "SASL_SSL", "ganxun-371428", "pw", ca_file=str(bad))
    # Without a CA file the system's trusted CAs verify the brokers (a public certificate).
    context = Connection("127.0.0.1:9093", "SASL_SSL", "ganxun-371428", "pw").client_kwargs()["ssl_context"]
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    # A principal made from a TLS connection keeps TLS and its CA (SSL alone becomes SASL_SSL).
    from deploy.local.tls import make_ca

    ca = str(make_ca(tmp_path / "ca"))
    over_tls = Connection("127.0.0.1:9093", "SSL", ca_file=ca).as_user("ganxun-371428", "pw")
    assert (over_tls.security_protocol, over_tls.ca_file) == ("SASL_SSL", ca)
    assert Connection("127.0.0.1:9092").as_user("u", "pw").security_protocol == "SASL_PLAINTEXT"


# -- erasures on a topic of their own (docs/personal-data.md) ---------------------------------
def test_a_county_writes_its_own_erasures_topic_and_reads_its_ancestors_and_the_dashboard_reads():
    acls = ba.acl_plan(["371428"])
    assert {op for p, op in grants(acls, ba.TOPIC, "ganxun.erasures.371428")} == RW
    assert grants(acls, ba.TOPIC, "ganxun.erasures.370000") == {
        (ba.LITERAL, ba.READ),
        (ba.LITERAL, ba.DESCRIBE),
    }
    dash = ba.acl_plan(["430000"], "dashboard")
    assert grants(dash, ba.TOPIC, "ganxun.erasures.43") == {
        (ba.PREFIXED, ba.READ),
        (ba.PREFIXED, ba.DESCRIBE),
    }
    # Erasures above a county are followed by its selection only (services/selection/erasures.py):
    # the services' principal reads them, the dashboard's does not.
    county_dash = ba.acl_plan(["371428"], "dashboard")
    assert grants(county_dash, ba.TOPIC, "ganxun.erasures.371428") == {
        (ba.LITERAL, ba.READ),
        (ba.LITERAL, ba.DESCRIBE),
    }
    assert grants(county_dash, ba.TOPIC, "ganxun.erasures.370000") == set()
    assert grants(county_dash, ba.TOPIC, "ganxun.erasures.371400") == set()
    assert grants(county_dash, ba.TOPIC, "ganxun.selection.370000") == {
        (ba.LITERAL, ba.READ),
        (ba.LITERAL, ba.DESCRIBE),
    }


def _runtime(service: str):
    from importlib import import_module

    from shared.runtime import Runtime
    from shared.settings import Settings

    definition = import_module(f"services.{service}.service").DEFINITION

    async def made():  # its Kafka producer wants a running loop; nothing here connects
        rt = Runtime(definition, Settings(service=service, jurisdictions=["371428"]))
        await rt.producer.stop()
        return rt

    return asyncio.run(made())


def test_projections_not_following_selection_hear_erasures_on_their_own_topic_not_selections_traffic():
    from services.selection.service import DEFINITION as SELECTION

    teaching = _runtime("teaching")
    others = [p for p in teaching.definition.projections if "selection" not in p.sources]
    assert others
    for p in others:
        pattern = teaching.pattern_for(p)
        assert pattern.match("ganxun.erasures.371428") and not pattern.match("ganxun.erasures.530129")
        assert not pattern.match("ganxun.selection.371428"), p.name
    selection = _runtime("selection")
    (cadres_projection,) = [p for p in SELECTION.projections if p.name == cadres.name]
    # the registry folds CadreErased in its stream's order, from selection's own topic
    assert selection.pattern_for(cadres_projection).match("ganxun.selection.371428")


def test_the_relay_copies_an_erasure_to_the_erasures_topic_after_its_own():
    from shared.contracts.selection import CadreErased
    from shared.outbox import OutboxRelay

    (erased,) = CommandHandler.envelopes(
        "cadre-x", 2, [CadreErased(cadre_id="x", ground="ceased")], ctx("371428")
    )
    course = ClassOpened(
        class_id="k",
        title="班",
        capacity=3,
        starts_on=date(2026, 12, 1),
        ends_on=date(2026, 12, 2),
        organiser="党校",
    )
    (opened,) = CommandHandler.envelopes("class-k", 0, [course], ctx("371428"))
    events = [erased.to_doc(), opened.to_doc()]

    class Store:
        published: list = []

        async def unpublished(self, limit):
            return [] if self.published else [{"_id": "c1", "events": events}]

        async def mark_published(self, ids):
            self.published.extend(ids)

    class Producer:
        sent: list = []

        async def send(self, topic, value, key, headers):
            self.sent.append((topic, dict(headers)["event_type"]))
            return asyncio.sleep(0)

    rt = _runtime("selection")
    relay = OutboxRelay(Store(), Producer(), rt.topic_for, copies_to=rt.copies_to)
    assert asyncio.run(relay.publish_once()) == 2
    assert Producer.sent == [
        ("ganxun.selection.371428", b"CadreErased"),
        ("ganxun.erasures.371428", b"CadreErased"),
        ("ganxun.selection.371428", b"ClassOpened"),
    ]
    assert provenance_error("ganxun.erasures.371428", erased) is None
    assert provenance_error("ganxun.erasures.530129", erased)
