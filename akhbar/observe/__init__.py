"""Watching a running process: health checks, the HTTP endpoints, the status views.

`server.py` serves /metrics, /healthz, /readyz and /status per process;
`checks.py` decides health and readiness; `feeds.py` reads feed health from
the pollers' `feeds.state` table; `page.py` renders the status page; `status.py` is the
`akhbar status` terminal view.
"""
