"""Domain logic: plain functions over a SQLModel Session, with no Flask in them.

Functions are keyword-only, take `session=` and `now=` (and `rng=` where chance is involved),
and never commit: the caller's one commit keeps a decision and everything it causes together.
"""
