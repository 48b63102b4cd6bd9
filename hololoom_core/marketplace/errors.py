"""The marketplace's one error type: a refusal or failure that reads as one line."""

from __future__ import annotations


class MarketplaceError(Exception):
    """A registry, package or install problem, as one line naming what and where (never a traceback)."""
