"""Self check-in's rotating codes (扫码签到): the short-lived signed code the teacher's
QR shows, and its check when a trainee's phone sends it back.

A module of its own because it holds the deployment's secret and the one piece of
cryptography in teaching; the rules of the check-in itself (open, on the roster, once)
are the attendance decider's (classroom.py).

A code is `<window>.<mac>`: the window is the number of `WINDOW_SECONDS` periods since
the epoch, the mac an HMAC-SHA256 over the class, the session and the window with a
per-deployment secret, so a code is good for one session only and cannot be made
without the secret. The screen shows a new code every window; a code is accepted for
`VALID_WINDOWS` windows (one minute) so that a trainee who has to log in on the phone
after scanning still makes it, while a photo of the screen is useless a minute later.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.errors import DomainError
from shared.keys import kept_secret

WINDOW_SECONDS = 20
VALID_WINDOWS = 3  # the current window and the two before it


class CheckinFlags(BaseSettings):
    """GANXUN_TEACHING_CHECKIN_SECRET: the deployment's secret (every teaching process of
    one deployment must share it). Empty: a random one kept in the keys folder."""

    model_config = SettingsConfigDict(env_prefix="GANXUN_TEACHING_", extra="ignore")

    checkin_secret: str = ""


def deployment_secret(keys_dir: Path) -> bytes:
    """The configured secret, else one made once and kept in `keys_dir` (mode 600)."""
    given = CheckinFlags().checkin_secret
    if given:
        return given.encode()
    return kept_secret(keys_dir / "teaching-checkin.key")


@dataclass(frozen=True)
class CheckinCodes:
    secret: bytes
    window_seconds: int = WINDOW_SECONDS
    valid_windows: int = VALID_WINDOWS

    def _window(self, now: datetime) -> int:
        return int(now.timestamp()) // self.window_seconds

    def _mac(self, class_id: str, session_id: str, window: int) -> str:
        msg = f"{class_id}\n{session_id}\n{window}".encode()
        return hmac.new(self.secret, msg, hashlib.sha256).hexdigest()[:20]

    def issue(self, class_id: str, session_id: str, now: datetime) -> dict:
        """The code for `now` and when the screen should show the next one."""
        w = self._window(now)
        changes_at = datetime.fromtimestamp((w + 1) * self.window_seconds, UTC)
        return {
            "code": f"{w}.{self._mac(class_id, session_id, w)}",
            "changes_at": changes_at.isoformat(),
            "refresh_seconds": max(1, int((changes_at - now).total_seconds())),
            "window_seconds": self.window_seconds,
        }

    def verify(self, class_id: str, session_id: str, code: str, now: datetime) -> None:
        """Refuses a code that is not this session's, or one shown more than a minute ago."""
        window, _, mac = (code or "").strip().partition(".")
        if not window.isdigit() or not hmac.compare_digest(mac, self._mac(class_id, session_id, int(window))):
            raise DomainError(
                "签到码无效：它不是本课次的签到二维码。请扫描教室屏幕上本课次的二维码。",
                code="bad_code",
                field="code",
            )
        age = self._window(now) - int(window)
        if age >= self.valid_windows or age < 0:  # (a future window: a clock skewed by minutes)
            shown = datetime.fromtimestamp(int(window) * self.window_seconds, UTC) + timedelta(hours=8)
            raise DomainError(
                f"签到码已过期（{shown:%H:%M:%S} 显示的二维码，有效期 "
                f"{self.window_seconds * self.valid_windows} 秒）。请重新扫描屏幕上最新的二维码。",
                code="code_expired",
                field="code",
            )
