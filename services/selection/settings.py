"""Selection's own settings, from the environment (GANXUN_SELECTION_…).

The deployment's settings (stores, bus, tokens) are `shared.settings.Settings`; the
movable development clock's flag, GANXUN_SELECTION_MOVABLE_CLOCK, is read by the runtime
(shared/clock.py). A module of its own because both the bootstrap (service.py) and the
handlers name it.
"""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

from services.selection.scope import HoursPolicy


class SelectionSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GANXUN_SELECTION_", extra="ignore")

    # The yearly hours a cadre owes and the rotation cycle, as JSON, e.g.
    # GANXUN_SELECTION_HOURS_POLICY='{"default_hours": 110, "by_rank": {"科员": 90}, "cycle_years": 5}'.
    hours_policy: HoursPolicy = HoursPolicy()
