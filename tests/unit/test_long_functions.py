"""The style's rule that a function over about 60 lines says why (deploy/long_functions.py)."""

from __future__ import annotations

from deploy.long_functions import LIMIT, findings, scan


def body(n: int, indent: str = "    ") -> str:
    return "".join(f"{indent}x{i} = {i}\n" for i in range(n))


def test_a_long_function_is_flagged_unless_it_says_why(tmp_path):
    f = tmp_path / "m.py"
    f.write_text(
        f"def short():\n{body(LIMIT - 1)}\n\ndef long():\n{body(LIMIT)}\n"
        f"# long: a table of cases, one per line\n@staticmethod\ndef kept():\n{body(LIMIT + 5)}\n"
        f"class C:\n    async def method(self):  # long: one pass of the protocol\n{body(80, ' ' * 8)}"
        f"    def unmarked(self):\n{body(70, ' ' * 8)}"
    )
    assert [(name, length) for _, name, length in findings(f)] == [("long", LIMIT + 1), ("unmarked", 71)]


def test_the_kernel_the_services_the_operations_code_the_tests_and_the_benches_say_why_where_they_are_long():
    assert scan(["shared", "services", "deploy", "tests", "bench"]) == []
