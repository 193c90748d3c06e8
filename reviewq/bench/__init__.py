"""`reviewq bench`: workload RQ-LOAD-1 against a real `reviewq serve` on 127.0.0.1."""
