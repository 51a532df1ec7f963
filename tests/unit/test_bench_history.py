"""The five-years bench's world (bench/history_world.py), pure: its events are on the streams
the services write, follow-up's are what its decider accepts, and the rounds append each
stream's commits in order."""

import random
from datetime import date

from bench.history import EVENTS_A_CALL, calls, rounds
from bench.history_world import build_world, class_dates
from bench.scale import COUNTY, people
from services.followup import domain as fd
from shared.commands import fold
from shared.contracts import followup as fc
from shared.contracts import teaching as tc
from shared.eventstore import MANY_CHUNK

TODAY = date(2026, 11, 28)


def small_world():
    return build_world(people(300, random.Random(1)), COUNTY, b"k" * 40, 2, 6, 20, 4, TODAY)


def test_classes_spread_over_the_years_and_the_latest_are_still_ahead():
    starts = class_dates(5, 100, TODAY)
    assert len(starts) == 500 and {y for y, _ in starts} == {2022, 2023, 2024, 2025, 2026}
    w = small_world()
    ahead = [k for k in w.classes if not k.graduated]
    assert ahead and all(k.ends_on >= date(2026, 11, 26) for k in ahead)
    assert all(k.graduated for k in w.classes if k.starts_on.year == 2025)


def test_every_graduated_class_has_sessions_attendance_records_and_follow_up():
    w = small_world()
    counts = w.counts()
    graduated = [k for k in w.classes if k.graduated]
    assert counts["selection"]["ClassOpened"] == len(w.classes) == 12
    assert counts["selection"]["CadreRegistered"] == len(w.people)
    assert counts["teaching"]["SessionScheduled"] == 4 * len(graduated)
    attended = counts["teaching"]["SessionAttended"] + counts["teaching"]["AbsenceRecorded"]
    assert attended == 4 * 20 * len(graduated)  # every trainee of every session, present or not
    verdicts = counts["teaching"]["TraineeGraduated"] + counts["teaching"]["TraineeNotGraduated"]
    assert verdicts == 20 * len(graduated)
    assert counts["records"]["RecordLogged"] == 2 * 20 * len(graduated)
    assert counts["followup"]["MilestoneScheduled"] == 4 * counts["teaching"]["TraineeGraduated"]
    assert counts["followup"]["EvaluationSubmitted"] > 0 and counts["followup"]["MilestoneOverdue"] > 0
    assert 0 < counts["followup"]["SharingTalkGiven"] < counts["teaching"]["TraineeGraduated"]
    ahead = next(k for k in w.classes if not k.graduated)
    assert f"teaching-class-{ahead.class_id}" not in w.streams["teaching"]


def test_follow_up_streams_fold_in_follow_ups_own_decider():
    w = small_world()
    stream, commits = next(iter(w.streams["followup"].items()))
    events = [e for c in commits for e in c.events]
    state = fold(fd.FollowUpDecider(), events)
    assert stream == fd.trainee_stream(state.class_id, state.cadre_id)
    assert isinstance(events[0], fc.MilestoneScheduled) and len(state.milestones) == 4
    # Nothing left for the clock to decide today: the last commit is today's tick.
    assert fd.FollowUpDecider().decide(state, fd.Tick(TODAY)) == []
    graduated = {
        e.cadre_id
        for s, cs in w.streams["teaching"].items()
        for c in cs
        for e in c.events
        if isinstance(e, tc.TraineeGraduated)
    }
    assert state.cadre_id in graduated


def test_rounds_append_each_streams_commits_in_order_with_following_versions():
    w = small_world()
    timetable = {s: c for s, c in w.streams["teaching"].items() if s.startswith("teaching-timetable-")}
    assert len(timetable) == 2  # one per year
    out = rounds(w.streams["teaching"], COUNTY)
    seen: dict[str, int] = {}
    for batch in out:
        assert len({s for s, _, _ in batch}) == len(batch)  # a stream at most once per append_many
        for stream, version, envs in batch:
            assert version == seen.get(stream, 0)
            assert [e.stream_version for e in envs] == list(range(version + 1, version + len(envs) + 1))
            assert all(e.jurisdiction == COUNTY for e in envs)
            seen[stream] = version + len(envs)
    total = sum(len(c.events) for cs in w.streams["teaching"].values() for c in cs)
    assert sum(seen.values()) == total


def test_merged_rounds_hold_the_same_envelopes_in_one_commit_per_stream():
    w = small_world()
    apart = rounds(w.streams["followup"], COUNTY)
    (merged,) = rounds(w.streams["followup"], COUNTY, merge=10**6)
    assert len(apart) > 1 and len(merged) == len(w.streams["followup"])

    def shape(batches):
        return sorted(
            (s, e.stream_version, e.type, e.actor.role)
            for batch in batches
            for s, _, envs in batch
            for e in envs
        )

    assert shape([merged]) == shape(apart)  # each command's actor kept
    assert all(version == 0 for _, version, _ in merged)


def test_bounded_merges_keep_commits_to_the_bound_and_commands_whole():
    """A stream's commands merged up to a bound of events a commit (years7): teaching's classes were one
    commit of their whole history, a relay round of them ~100,000 events."""
    w = small_world()
    commands = {s: [len(c.events) for c in cs] for s, cs in w.streams["teaching"].items()}
    out = rounds(w.streams["teaching"], COUNTY, merge=10)
    per_stream: dict[str, list[int]] = {}
    for batch in out:
        for stream, _, envs in batch:
            per_stream.setdefault(stream, []).append(len(envs))
    for stream, sizes in per_stream.items():
        assert sum(sizes) == sum(commands[stream])
        assert all(n <= 10 or n in commands[stream] for n in sizes)  # over 10: one command alone
    assert max(len(s) for s in per_stream.values()) > 1  # a class's history is several commits
    assert sum(map(len, per_stream.values())) < sum(map(len, commands.values()))  # and merged


def test_a_call_is_one_batch_pointer_of_bounded_events():
    w = small_world()
    (merged,) = rounds(w.streams["selection"], COUNTY, merge=50)[:1]
    parts = calls(merged * 3)
    assert [c for part in parts for c in part] == merged * 3
    assert all(len(part) <= MANY_CHUNK for part in parts)
    assert all(sum(len(c[2]) for c in part) <= EVENTS_A_CALL or len(part) == 1 for part in parts)
