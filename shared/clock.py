"""The services' day: China-local time, and the guard on development-only movable clocks.

Party schools and departments work on Beijing time whatever the server's zone (a UTC
machine is on "tomorrow" after 16:00 UTC). Selection and follow-up can move their
"today" for demos and tests; that must never be possible where real tokens are checked.
"""

from __future__ import annotations

import os
from datetime import date, datetime
from zoneinfo import ZoneInfo

CHINA = ZoneInfo("Asia/Shanghai")
PRODUCTION_KEYS = ("GANXUN_JWKS_URL", "GANXUN_JWT_PUBLIC_KEY_FILE", "GANXUN_OIDC_ISSUER")


def local_now() -> datetime:
    """Beijing wall-clock time, without a zone (session times are written that way)."""
    return datetime.now(CHINA).replace(tzinfo=None)


def local_today() -> date:
    return datetime.now(CHINA).date()


def refuse_movable_in_production(variable: str) -> None:
    """Stop the service if a movable clock (`variable`) is on beside production keys or an
    issuer, unless the deployment says it is a development one (GANXUN_ENV=dev: `ganxun
    up`, whose services trust its local Keycloak and the development key alike)."""
    if any(os.environ.get(k) for k in PRODUCTION_KEYS) and os.environ.get("GANXUN_ENV") != "dev":
        raise SystemExit(f"生产配置（已设置正式验签密钥或身份认证签发方）不允许启用可调时钟 {variable}，拒绝启动。")
