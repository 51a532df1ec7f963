"""Keeps what `ganxun up` started running: a process that dies is restarted, with a back-off.

Generic over what it watches: a `Watched` is a name, a `running()` check (a pid file
checked against /proc, so a zombie or a reused pid never looks alive) and a `start()`.
`ganxun up` watches the store, Kafka and every service (deploy/cli.supervised); adding
a server is one more `Watched` line there.

Each pass (`tick`, every half second) reaps exited children (no zombies), then for
each watched thing that is not running: logs that it stopped, waits its back-off
(0.5 s, doubling, at most 30 s; reset once it has stayed up 60 s) and starts it again,
logging the restart. A start that fails is logged and tried again after the next,
longer back-off. Production does not use this: the orchestrator restarts services
(docs/operations.md, "Production: the orchestrator restarts services").
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from deploy.local.process import reap_children

FIRST_DELAY = 0.5
MAX_DELAY = 30.0
STABLE_AFTER = 60.0


@dataclass
class Watched:
    name: str
    running: Callable[[], bool]
    start: Callable[[], None]


@dataclass
class _State:
    failures: int = 0
    down: bool = False
    due: float = 0.0
    up_since: float = field(default=0.0)


def _stamp() -> str:
    return datetime.now().strftime("%H:%M:%S")


class Supervisor:
    def __init__(
        self,
        watched: list[Watched],
        log: Callable[[str], None] = print,
        clock: Callable[[], float] = time.monotonic,
        first_delay: float = FIRST_DELAY,
        max_delay: float = MAX_DELAY,
        stable_after: float = STABLE_AFTER,
    ) -> None:
        self.watched = watched
        self.log = log
        self.clock = clock
        self.first_delay, self.max_delay, self.stable_after = first_delay, max_delay, stable_after
        now = clock()
        self.state = {w.name: _State(up_since=now) for w in watched}
        self.restarts: dict[str, int] = {w.name: 0 for w in watched}

    def delay(self, failures: int) -> float:
        return min(self.first_delay * 2 ** max(failures - 1, 0), self.max_delay)

    def tick(self) -> None:
        reap_children()
        for w in self.watched:
            st = self.state[w.name]
            now = self.clock()
            if not st.down:
                if w.running():
                    if st.failures and now - st.up_since >= self.stable_after:
                        st.failures = 0
                    continue
                st.down = True
                st.failures += 1
                st.due = now + self.delay(st.failures)
                self.log(
                    f"[{_stamp()}] {w.name} 已停止运行，{self.delay(st.failures):g} 秒后重启"
                    f"（第 {st.failures} 次）"
                )
            if now < st.due:
                continue
            try:
                w.start()
            except Exception as exc:  # noqa: BLE001 - logged; tried again after a longer back-off
                st.failures += 1
                st.due = self.clock() + self.delay(st.failures)
                self.log(f"[{_stamp()}] {w.name} 重启失败：{exc}；{self.delay(st.failures):g} 秒后再试")
                continue
            st.down = False
            st.up_since = self.clock()
            self.restarts[w.name] += 1
            self.log(f"[{_stamp()}] {w.name} 已重启")

    def run(self, stop: threading.Event, interval: float = 0.5) -> None:
        while not stop.is_set():
            self.tick()
            stop.wait(interval)
