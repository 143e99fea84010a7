"""Veil's Beam transforms; the Beam-free logic they compose lives in ``transforms.logic``."""
