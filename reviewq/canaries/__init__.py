"""Canaries: the versioned library (canaries/*.toml), rendering, and mutation of real items.

Flask-free; the weekly job that plants them is reviewq.domain.injection.
"""
