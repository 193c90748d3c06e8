"""A versioned gold set: decided items with their agreed labels, as JSONL plus a hashed manifest."""
