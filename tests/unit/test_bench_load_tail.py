"""bench.load prints the slow 1 % of a run, not only its p99: p99.9, the worst second (by the
commands' scheduled times), how many seconds had a command over the goal, and how many of the
slow commands were in flight while the bench client's own loop stood still (then the client,
on the same cores, was late too: docs/benchmarks.md, "Commands' tail at 50/s")."""

from __future__ import annotations

from bench.load import WALL, Figures, tail, write_trace


def figures() -> Figures:
    fig = Figures()
    t0 = 1_000.0
    for second in range(10):
        for n in range(50):
            ms = 300.0 if (second == 3 and n < 2) else 120.0 if (second == 7 and n == 0) else 10.0
            fig.add("登记干部", ms, t0 + second + n / 50 - WALL)
    fig.client_lag.append((t0 + 3.01, 80.0))  # the client stood still under the first slow one
    return fig


def test_the_worst_second_and_the_seconds_over_the_goal(capsys):
    tail(figures())
    out = capsys.readouterr().out
    assert "最慢的一秒：第 3 秒" in out
    assert "最慢 300 ms，超过 100 ms 的 2 条" in out
    assert "有超过 100 ms 命令的秒数 2 / 10" in out


def test_slow_commands_in_flight_while_the_client_stood_still(capsys):
    tail(figures())
    out = capsys.readouterr().out
    assert "超过 100 ms 的 3 条命令中 2 条在途时客户端停顿过" in out


def test_the_trace_has_a_line_per_command_and_per_stall(tmp_path):
    path = tmp_path / "trace.tsv"
    write_trace(figures(), path)
    lines = path.read_text().splitlines()
    assert sum(line.startswith("cmd\t登记干部\t") for line in lines) == 500
    assert sum(line.startswith("lag\t") for line in lines) == 1


def test_a_probe_asks_every_50_ms_until_the_goal_then_ever_less_often():
    import time

    from bench.load import pause

    now = time.perf_counter()
    assert pause(now) == 0.05  # within the 1 s goal: its resolution
    assert 0.35 <= pause(now - 1.5) <= 0.4  # a miss already: it no longer feeds the backlog
    assert pause(now - 20) == 1.0  # at most once a second
