"""`reviewq bench`: workload RQ-LOAD-1 against a real gunicorn server on 127.0.0.1."""
