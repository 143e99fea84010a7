"""Veil's runnable Beam jobs; ``veil`` (pipelines.cli) dispatches to them."""
