"""The idempotency rules (shared/idempotency.py) and the ids a retried request makes (shared/ids.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared import ids
from shared.idempotency import (
    TTL,
    Remembered,
    decide,
    epoch_ms,
    fingerprint,
    key_problem,
    reused_message,
    scope,
    worth_remembering,
)

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
BODY = b'{"category":"study","text":"\xe8\xae\xa4\xe7\x9c\x9f"}'
FP = fingerprint("POST", "/classes/c1/trainees/k1/records", "", BODY)


def answered(fp=FP, at=NOW, status=201, body=b'{"record_id":"r1"}') -> Remembered:
    return Remembered(fingerprint=fp, first_at=at, status=status, body=body)


def test_a_new_key_runs_the_command():
    assert decide(None, FP, NOW).action == "run"


def test_the_same_key_with_the_same_request_gets_the_original_answer():
    d = decide(answered(), FP, NOW + timedelta(minutes=5))
    assert d.action == "replay"
    assert (d.remembered.status, d.remembered.body) == (201, b'{"record_id":"r1"}')


def test_the_same_key_with_another_request_is_refused():
    for other in (
        fingerprint("POST", "/classes/c1/trainees/k1/records", "", BODY + b" "),
        fingerprint("POST", "/classes/c1/trainees/k2/records", "", BODY),
        fingerprint("PUT", "/classes/c1/trainees/k1/records", "", BODY),
        fingerprint("POST", "/classes/c1/trainees/k1/records", "dry_run=1", BODY),
    ):
        assert other != FP
        assert decide(answered(), other, NOW).action == "refuse"
    assert "已用于另一请求" in reused_message("k-1") and "k-1" in reused_message("k-1")


def test_a_claimed_key_without_an_answer_resumes_with_the_first_attempts_ids():
    # The first attempt crashed after claiming the key: the retry runs again (and the
    # command handler finds the commit the first attempt stored, if it did).
    d = decide(answered(status=None, body=b""), FP, NOW + timedelta(seconds=3))
    assert d.action == "resume" and d.remembered.first_at == NOW


def test_a_key_expires_after_the_ttl():
    assert TTL == timedelta(hours=24)
    assert decide(answered(), FP, NOW + TTL - timedelta(seconds=1)).action == "replay"
    assert decide(answered(), FP, NOW + TTL).action == "run"
    other = fingerprint("POST", "/x", "", b"")
    assert decide(answered(), other, NOW + TTL + timedelta(hours=1)).action == "run"


def test_keys_are_scoped_to_deployment_and_user():
    assert scope("371428", "u1", "k") == scope("371428", "u1", "k")
    assert (
        len(
            {
                scope("371428", "u1", "k"),
                scope("371428", "u2", "k"),
                scope("371402", "u1", "k"),
                scope("371428", "u1", "k2"),
            }
        )
        == 4
    )


def test_which_answers_are_remembered():
    assert all(worth_remembering(s) for s in (200, 201, 202, 204, 400, 404, 422))
    assert not any(worth_remembering(s) for s in (401, 403, 409, 429, 500, 502, 503))


@pytest.mark.parametrize(
    "key, ok",
    [
        ("3f2a9c1e-0b7d-4c1e-9a55-1b2c3d4e5f60", True),
        ("", False),
        ("  ", False),
        ("a" * 256, False),
        ("a" * 255, True),
        ("键", False),
        ("a b", False),
    ],
)
def test_key_shape(key, ok):
    assert (key_problem(key) is None) == ok


def test_a_seeded_request_makes_the_same_ids_on_every_attempt():
    def attempt():
        token = ids.seeded(ids.Seed(key="scope-1", first_ms=1_772_000_000_000))
        try:
            return [ids.new_id(), ids.fresh_id(), ids.new_id(), ids.next_commit_id(), ids.next_commit_id()]
        finally:
            ids.unseed(token)

    first, second = attempt(), attempt()
    assert first[0] == second[0] and first[2] == second[2] and first[3:] == second[3:]
    assert first[1] != second[1]  # an event's own id is always new
    assert len({first[0], first[2]}) == 2 and first[3] != first[4]
    assert first[0][14] == "7"  # still a UUIDv7, timed at the first attempt
    assert ids.new_id() != ids.new_id() and ids.next_commit_id() is None


def test_another_key_makes_other_ids():
    t = ids.seeded(ids.Seed(key="scope-2", first_ms=1_772_000_000_000))
    try:
        other = ids.new_id()
    finally:
        ids.unseed(t)
    t = ids.seeded(ids.Seed(key="scope-1", first_ms=1_772_000_000_000))
    try:
        assert ids.new_id() != other
    finally:
        ids.unseed(t)


def test_the_seed_time_is_exact_to_the_millisecond():
    at = datetime(2026, 3, 2, 8, 0, 0, 123000, tzinfo=UTC)
    assert epoch_ms(at) == 1772438400123
    assert all(epoch_ms(at.replace(microsecond=ms * 1000)) % 1000 == ms for ms in range(1000))
