"""Consumer profiles (who reads MLF archives, and how) and the compat evaluator."""

from __future__ import annotations

from mlfcheck.consumers.evaluate import (
    Failure,
    Verdict,
    broken_by,
    check_archive,
    evaluate,
)
from mlfcheck.consumers.harness import LEVELS, Proof, UserHarness
from mlfcheck.consumers.profile import (
    Evidence,
    Profile,
    ProfileError,
    Read,
    builtin_profiles,
    load_profile,
    select_profiles,
)

__all__ = ["LEVELS", "Evidence", "Failure", "Profile", "ProfileError", "Proof", "Read",
           "UserHarness", "Verdict", "broken_by", "builtin_profiles", "check_archive", "evaluate",
           "load_profile", "select_profiles"]
