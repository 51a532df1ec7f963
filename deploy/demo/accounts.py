"""`ganxun up`'s demo accounts: one login per role in each demo jurisdiction.

Made through ganxun's own accounts service (so each is an AccountCreated with its
actor, like any account), acting as a development administrator of that jurisdiction.
Already there on a later `up`: left as they are. The password is for the demo only and
printed with that warning; docs/identity.md has the table.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from shared import jurisdiction as jur
from shared.auth import ROLES, ensure_dev_keys, issue_token

DEMO_PASSWORD = "Ganxun-Demo-2026"  # demo only: never on a deployment that holds real data
DEMO_JURISDICTIONS = ("430000", "330500", "371428", "530129")


@dataclass(frozen=True)
class DemoAccount:
    username: str
    name: str
    role: str
    jurisdiction: str
    unit: str | None = None
    person_id: str | None = None


def demo_accounts(codes=DEMO_JURISDICTIONS) -> list[DemoAccount]:
    out = []
    for code in codes:
        level = len(jur.prefix(code))
        place = jur.name(code)
        for role, title in ROLES.items():
            if role == "analyst" and level == 6:
                continue  # analysts sit at a province or city
            if role in ("unit", "evaluator", "trainee") and level == 2:
                continue  # units and trainees belong to a city or county
            unit = (
                ("县" if level == 6 else "市") + "教育局"
                if role in ("unit", "evaluator", "trainee")
                else None
            )
            person = (
                f"demo-{role.replace('_', '-')}-{code}" if role in ("trainee", "mentor", "recorder") else None
            )
            out.append(
                DemoAccount(
                    f"{role.replace('_', '-')}-{code}", f"{place}{title}（演示）", role, code, unit, person
                )
            )
    return out


def dev_admin(keys_dir):
    """Headers of a development administrator of a jurisdiction (`ganxun up` is a dev deployment)."""
    private = ensure_dev_keys(keys_dir)[0]

    def headers(code: str) -> dict[str, str]:
        token = issue_token(
            private, user_id=f"demo-admin-{code}", name="演示账号初始化", role="admin", jurisdiction=code
        )
        return {"Authorization": f"Bearer {token}"}

    return headers


def create(accounts_url: str, admin_of, codes=DEMO_JURISDICTIONS) -> tuple[int, int]:
    """Creates the missing demo accounts, as `admin_of(code)`'s headers; returns (made, already there)."""
    made = kept = 0
    with httpx.Client(timeout=60) as http:
        for a in demo_accounts(codes):
            r = http.post(
                f"{accounts_url}/accounts",
                headers=admin_of(a.jurisdiction),
                json={
                    "username": a.username,
                    "name": a.name,
                    "role": a.role,
                    "jurisdiction": a.jurisdiction,
                    "unit": a.unit,
                    "person_id": a.person_id,
                    "password": DEMO_PASSWORD,
                    "temporary_password": False,
                },
            )
            if r.status_code == 201:
                made += 1
            elif r.status_code == 422 and r.json().get("code") == "username_taken":
                kept += 1
            else:
                raise RuntimeError(f"演示账号 {a.username} 创建失败：{r.status_code} {r.text[:300]}")
    return made, kept


def demo_email(a: DemoAccount) -> str:
    return f"{a.username}@demo.ganxun.local"


def set_contacts(reminders_url: str, keys_dir, codes=DEMO_JURISDICTIONS) -> int:
    """Gives each demo account a demo e-mail address at the reminders service, set as the
    account itself (a development token with its role, unit and person id): under `ganxun
    up` reminders' mail goes to the service's log, so the demo shows what would be sent."""
    private = ensure_dev_keys(keys_dir)[0]
    done = 0
    with httpx.Client(timeout=60) as http:
        for a in demo_accounts(codes):
            token = issue_token(
                private,
                user_id=a.person_id or a.username,
                name=a.name,
                role=a.role,
                jurisdiction=a.jurisdiction,
                unit=a.unit,
            )
            r = http.put(
                f"{reminders_url}/contacts/me",
                headers={"Authorization": f"Bearer {token}"},
                json={"email": demo_email(a)},
            )
            if r.status_code != 200:
                raise RuntimeError(
                    f"演示账号 {a.username} 的提醒邮箱设置失败：{r.status_code} {r.text[:300]}"
                )
            done += 1
    return done


def print_login(keycloak_url: str, made: int, kept: int) -> None:
    print(
        f"\n演示账号：新建 {made} 个，已有 {kept} 个。"
        f"每个演示辖区（湖南省 430000、湖州市 330500、武城县 371428、"
        f"寻甸县 530129）每个角色一个，用户名为 角色-辖区代码，如 org-department-371428、admin-430000、"
        f"unit-371428；角色名中的下划线写作横线。\n"
        f"演示密码（仅限演示，切勿用于真实数据）：{DEMO_PASSWORD}\n"
        f"登录页：{keycloak_url}/realms/ganxun/account （工作台上线后从工作台登录）；"
        f"完整列表见 docs/identity.md“Demo accounts”一节。",
        flush=True,
    )
