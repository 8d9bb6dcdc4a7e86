"""Faults: plans are pure data, appliers act on hosts through harness.api.Host."""
