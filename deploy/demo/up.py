"""`ganxun up`'s demo step: load the demo on a first run (an empty store), never again.

Separate from deploy/cli.py so the CLI change is two lines."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from datetime import date

import httpx

from deploy.demo.client import DemoError
from deploy.demo.loader import STEPS, Codes, load
from shared import jurisdiction as jur
from shared.auth import ensure_dev_keys, issue_token

DEMO_JURISDICTIONS = "371428,330500,530129,430000"
PROVINCE, COUNTY = "430000", "371428"


def _empty(url: str, key: bytes, codes: list[str]) -> bool:
    """No cadre and no class in any served jurisdiction (asked through selection's API)."""
    for code in codes:
        tok = issue_token(
            key, user_id="demo-check", name="演示检查", role="org_department", jurisdiction=code
        )
        h = {"Authorization": f"Bearer {tok}"}
        cadres = httpx.get(f"{url}/cadres", headers=h, timeout=60).json()
        classes = httpx.get(f"{url}/classes", headers=h, timeout=60).json()
        if cadres.get("total") or (classes.get("classes") if isinstance(classes, dict) else classes):
            return False
    return True


def print_pages(key: bytes, ports: dict[str, int]) -> None:
    province = issue_token(
        key, user_id="demo-analyst", name="省委组织部分析员", role="analyst", jurisdiction=PROVINCE
    )
    county = issue_token(
        key, user_id="demo-org-371428", name="武城县委组织部", role="org_department", jurisdiction=COUNTY
    )
    base = f"http://127.0.0.1:{ports.get('dashboard', 8100)}/?year={date.today().year}"
    print(
        f"\n省级看板（湖南 {PROVINCE}，分析员）：\n{base}#token={province}\n"
        f"\n县级看板（武城县 {COUNTY}，组织部）：\n{base}#token={county}\n",
        flush=True,
    )


# long: the demo's loading and its progress report, step by step
def load_if_empty(
    state_dir, ports: dict[str, int], jurisdictions: str, mongodb_uri: str | None = None
) -> None:
    key = ensure_dev_keys(state_dir / "keys")[0]
    served = [c.strip() for c in jurisdictions.split(",") if c.strip()]
    codes = Codes()
    missing = [c for c in codes.jurisdictions() if not any(jur.covers(s, c) for s in served)]
    marker = state_dir / "demo.json"
    urls = {n: f"http://127.0.0.1:{ports[n]}" for n in ("selection", "teaching", "records", "followup")}
    if missing:
        print(f"未加载演示数据：本部署未服务演示所用的行政区划 {'、'.join(missing)}（见 --jurisdictions）。")
    elif marker.exists() or not _empty(urls["selection"], key, served):
        print("存储中已有数据：不重新加载演示数据（继续使用已有数据）。")
    else:
        from tqdm import tqdm

        # The addresses first: the pages fill live while the demo loads.
        print_pages(key, ports)
        print("正在通过各服务接口加载演示数据；看板随事件实时更新，无需刷新。", flush=True)

        bar = tqdm(total=STEPS, desc="加载演示数据", unit="步", file=sys.stderr)

        def step(name: str) -> None:
            bar.set_postfix_str(name)
            bar.update(1)

        try:
            mover = None
            if mongodb_uri:  # this deployment serves several provinces: no admin covers all of it
                from shared.clock import store_mover
                from shared.settings import Settings

                mover = store_mover(
                    mongodb_uri,
                    {
                        n: Settings(service=n, jurisdictions=served).database_name
                        for n in ("selection", "followup")
                    },
                )
            summary = asyncio.run(
                load(
                    urls,
                    key,
                    codes,
                    scale=float(os.environ.get("GANXUN_DEMO_SCALE", "1")),
                    progress=step,
                    move_clock=mover,
                )
            )
        except DemoError as exc:
            print(f"\n{exc}\n服务仍在运行；已加载的数据保留，下次启动不会重复加载。", file=sys.stderr)
            marker.write_text(json.dumps({"failed": str(exc)}, ensure_ascii=False))
            return
        finally:
            bar.close()
        marker.write_text(
            json.dumps(
                {
                    "loaded_at": time.strftime("%Y-%m-%d %H:%M:%S"),
                    "seconds": round(summary.seconds, 1),
                    "requests": summary.requests,
                    "panels_full_seconds": round(summary.panels_full, 1),
                    "classes": summary.classes,
                    "trainees": summary.trainees,
                    "sessions": summary.sessions,
                    "graduates": summary.graduates,
                },
                ensure_ascii=False,
            )
        )
        print(
            f"演示数据已加载：{summary.classes} 个班次、{summary.trainees} 名学员、"
            f"{summary.sessions} 个课次、"
            f"{summary.graduates} 人结业、{summary.records} 条纪实、{summary.evaluations} 份跟踪评价；"
            f"{summary.requests} 次接口调用，用时 {summary.seconds:.0f} 秒（上面两个看板的各项数据在第 "
            f"{summary.panels_full:.0f} 秒已齐）。"
        )
        return
    print_pages(key, ports)
