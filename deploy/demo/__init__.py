"""The realistic demo `ganxun up` loads on an empty store (see README, "`ganxun up` with a realistic demo")."""

from deploy.demo.loader import STEPS, Codes, Summary, load

__all__ = ["STEPS", "Codes", "Summary", "load"]
