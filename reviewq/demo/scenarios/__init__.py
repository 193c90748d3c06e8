"""Demo agents that answer from structured facts, so the right answer of every item is known.

Each scenario draws the facts first (an order, an invoice, a handbook section, a CI run), puts them
in the tool results of the trace exactly as a tool would return them, and writes the output from
the same facts. A careful reviewer can check every number, name and date of the output against the
trace; a planted fault (a changed amount, a dropped key, a looping call) is findable by comparing them.
"""
