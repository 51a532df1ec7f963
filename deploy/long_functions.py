"""Flags functions longer than the style allows (design/style.md: about 60 lines) that do
not say why: a `# long: <reason>` comment on the `def` line, its decorators, or the line
above them. Run by deploy/test; `python -m deploy.long_functions [folder ...]`.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

LIMIT = 60
MARKER = "# long:"
ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("shared", "services", "deploy", "tests", "bench")


def findings(path: Path, limit: int = LIMIT) -> list[tuple[int, str, int]]:
    """(line, name, length) of each function in `path` over `limit` lines with no marker."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    out = []
    for node in ast.walk(ast.parse(text)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        length = node.end_lineno - node.lineno + 1
        if length <= limit:
            continue
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        head = lines[max(first - 2, 0) : node.body[0].lineno - 1]
        if not any(MARKER in line for line in head):
            out.append((node.lineno, node.name, length))
    return out


def scan(folders: list[str]) -> list[str]:
    report = []
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if ".venv" in path.parts or "node_modules" in path.parts:
                continue
            for line, name, length in findings(path):
                report.append(
                    f"{path.relative_to(ROOT)}:{line}: 函数 {name} 有 {length} 行（上限 {LIMIT}），"
                    f"请拆分，或注明原因：{MARKER} …"
                )
    return report


def main(argv: list[str]) -> int:
    report = scan(argv or list(FOLDERS))
    print("\n".join(report) if report else "函数长度检查通过。")
    return 1 if report else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
