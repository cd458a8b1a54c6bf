"""Fault injection: the shared fault vocabulary now; campaigns, line impairment and
reports build on it (see the project issues)."""
from .vocabulary import OUTCOMES, SITE_KINDS, FaultModel

__all__ = ["SITE_KINDS", "OUTCOMES", "FaultModel"]
