"""`reviewq serve`: gunicorn manages the processes; each worker runs an asyncio event loop.

- protocol: HTTP/1.1 on h11 (uvicorn's protocol) with a deadline for request headers.
- front: the ASGI app. It reads a request's body on the loop (with a size limit and a
  deadline), then runs the Flask app in a bounded thread pool; long-polls wait on the loop.
- wsgi_bridge: one WSGI call in a pool thread, its response buffered or streamed.
- worker: the gunicorn worker class; gated_server: its accept loop, within its limits.
"""
