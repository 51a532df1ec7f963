"""What frozen states cost a fold (no server): the streams every teaching command loads.

A county's timetable of a year (1,000 sessions), a year of a county's online-learning
records (10,000 references) and one session's attendance (150 check-ins), each folded
from its events as `CommandHandler.load` does after reading them. Prints the best of
five runs in milliseconds:

    .venv/bin/python -m bench.teaching_fold
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from datetime import time as clock

from services.teaching.classroom import AttendanceDecider
from services.teaching.domain import OnlineLedgerDecider, TimetableDecider
from shared.commands import fold
from shared.contracts.teaching import OnlineHoursCredited, SessionAttended, SessionScheduled


def best_ms(run, times: int = 5) -> float:
    timings = []
    for _ in range(times):
        start = time.perf_counter()
        run()
        timings.append(time.perf_counter() - start)
    return round(min(timings) * 1000, 1)


def main() -> None:
    sessions = [
        SessionScheduled(
            class_id=f"c{i % 40}",
            session_id=f"s{i}",
            course_id="k",
            course_title="理论课程",
            kind="理论课",
            on=date(2026, 1, 1) + timedelta(days=i % 300),
            starts_at=clock(9),
            ends_at=clock(11),
            hours=2.0,
            teacher_id=f"t{i % 30}",
            teacher_name="教师",
            site_id="hall",
        )
        for i in range(1000)
    ]
    online = [
        OnlineHoursCredited(reference=f"r{i}", cadre_id=f"p{i % 3000}", hours=1.0, on=date(2026, 5, 1))
        for i in range(10_000)
    ]
    attended = [
        SessionAttended(
            class_id="c", session_id="s", cadre_id=f"p{i}", hours=2.0, on=date(2026, 3, 2), kind="理论课"
        )
        for i in range(150)
    ]
    print(f"timetable, 1,000 sessions:   {best_ms(lambda: fold(TimetableDecider(), sessions))} ms")
    print(f"online ledger, 10,000 refs:  {best_ms(lambda: fold(OnlineLedgerDecider(), online))} ms")
    print(f"attendance, 150 check-ins:   {best_ms(lambda: fold(AttendanceDecider(), attended))} ms")


if __name__ == "__main__":
    main()
