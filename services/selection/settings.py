"""Selection's own settings, from the environment (GANXUN_SELECTION_…).

The deployment's settings (stores, bus, tokens) are `shared.settings.Settings`; the
movable development clock's flag, GANXUN_SELECTION_MOVABLE_CLOCK, is read by the runtime
(shared/clock.py). A module of its own because both the bootstrap (service.py) and the
handlers name it.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.selection.scope import HoursPolicy
from shared.keys import kept_secret
from shared.settings import Settings

MIN_SECRET = 32
KEPT = "cadre-ids.key"  # in the keys folder (.state/keys/), when no secret is configured
NO_SECRET_MESSAGE = (
    "未配置干部编号密钥，拒绝启动。生产环境请设置 GANXUN_SELECTION_CADRE_ID_SECRET"
    f"（至少 {MIN_SECRET} 个字符的随机串，全省各部署使用同一个，妥善保管、不得更换：更换后同一身份证号"
    "将得到新的干部编号）；仅开发、测试（GANXUN_ENV=dev）时自动生成并保存在本机密钥目录。\n"
    "(No cadre id secret is configured: refusing to start. In production set "
    f"GANXUN_SELECTION_CADRE_ID_SECRET to a random string of at least {MIN_SECRET} characters, the same "
    "for every deployment of the province, kept and never changed.)"
)


class SelectionSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GANXUN_SELECTION_", extra="ignore")

    # The yearly hours a cadre owes and the rotation cycle, as JSON, e.g.
    # GANXUN_SELECTION_HOURS_POLICY='{"default_hours": 110, "by_rank": {"科员": 90}, "cycle_years": 5}'.
    hours_policy: HoursPolicy = HoursPolicy()
    # The province's key for cadre ids (cadres.cadre_id_for): the same in every deployment
    # of one province, so a 身份证号 has one id across them. Required in production.
    cadre_id_secret: str = Field("", repr=False)


def cadre_id_secret(flags: SelectionSettings, deployment: Settings) -> bytes:
    """The configured secret; else the one kept in the deployment's keys folder
    (`cadre-ids.key`, made by `ganxun up`, or here for a development deployment, shared/keys.py);
    else, outside development, SystemExit: a service does not start without one."""
    given = flags.cadre_id_secret.strip()
    if given:
        if len(given) < MIN_SECRET:
            raise SystemExit(f"GANXUN_SELECTION_CADRE_ID_SECRET 太短（至少 {MIN_SECRET} 个字符），拒绝启动。")
        return given.encode()
    kept = deployment.keys_dir / KEPT
    if not kept.exists() and deployment.env != "dev":
        raise SystemExit(NO_SECRET_MESSAGE)
    return kept_secret(kept)
