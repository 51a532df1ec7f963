"""The realistic demo `ganxun up` loads on an empty store (docs/demo.md)."""

from deploy.demo.loader import STEPS, Codes, Summary, load

__all__ = ["STEPS", "Codes", "Summary", "load"]
