"""The realistic demo `ganxun up` loads on an empty store (see README, "The demo")."""

from deploy.demo.loader import STEPS, Codes, Summary, china_today, load

__all__ = ["STEPS", "Codes", "Summary", "china_today", "load"]
