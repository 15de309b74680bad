"""Baseline models, written against the public model contract (gbench.models.contract)."""
