"""Hypothesis runs derandomised: a property test explores the same examples on every run, so CI is
repeatable; set HYPOTHESIS_PROFILE=explore to search new ones."""

import os

from hypothesis import settings

settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))
