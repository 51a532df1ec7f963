"""The province bench's fast producer sends what the kernel would (bench/province_produce.py):
a county joined from another county's template equals that county built the real way, but
for its event ids and its seals, and its sealed values open with its own keys only."""

import asyncio
import base64
import json
from types import SimpleNamespace

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bench.province import County
from bench.province_produce import TEMPLATE_CITY, Joiner, build
from shared.events import CATALOGUE, Envelope
from shared.personal import _get, person_of

ARGS = SimpleNamespace(cadres=40, online=0.6, classes=2, class_size=5)


def opened(doc: dict, keys: dict[str, bytes]) -> dict:
    """The document with each sealed value replaced by its plain value."""
    doc = json.loads(json.dumps(doc))
    for path in doc["sealed"]:
        token = _get(doc, path)
        person = person_of(token)
        box = base64.urlsafe_b64decode(token.rsplit(":", 1)[1])
        plain = AESGCM(keys[person]).decrypt(box[:12], box[12:], person.encode())
        *parents, last = path.split(".")
        target = doc
        for p in parents:
            target = target[p]
        target[last] = json.loads(plain)
    return doc


def test_a_joined_county_is_the_county_built_the_real_way():
    template, _, _ = asyncio.run(build(f"{TEMPLATE_CITY}01", County, ARGS, seed="710101"))
    # The same county's choices (seed) built through the kernel under its own code:
    _, real, real_keys = asyncio.run(build("710101", County, ARGS, seed="710101"))
    joiner = Joiner(template, "710101")
    joined = list(joiner.events())

    assert len(joined) == len(real) > 300
    ids = set()
    for (topic, key, value, headers), (r_topic, r_key, r_value, r_headers) in zip(joined, real):
        assert (topic, key, headers) == (r_topic, r_key, r_headers)
        doc, want = json.loads(value), json.loads(r_value)
        assert doc["jurisdiction"] == "710101" and TEMPLATE_CITY not in value.decode()
        ids.add(doc["event_id"])
        assert doc["sealed"] == want["sealed"]
        # Sealed values are new seals of the same plain values, under the county's own keys.
        for path in doc["sealed"]:
            assert _get(doc, path) != _get(want, path)
            token = _get(doc, path)
            box = base64.urlsafe_b64decode(token.rsplit(":", 1)[1])
            with pytest.raises(InvalidTag):  # not under another vault's key for the same person
                AESGCM(real_keys.raw[person_of(token)]).decrypt(box[:12], box[12:], person_of(token).encode())
        plain, want_plain = opened(doc, joiner.keys), opened(want, real_keys.raw)
        own = {"event_id": "", "occurred_at": "", "recorded_at": ""}  # its own id, the template's time
        assert {**plain, **own} == {**want_plain, **own}
        Envelope.model_validate(plain)
        assert CATALOGUE.decode(plain) is not None  # a kernel envelope of a contract event
    assert len(ids) == len(joined)
