"""gunicorn settings for Buddy (see DEPLOYMENT.md). Values can be overridden by the environment."""

import gc
import multiprocessing
import os

bind = f"{os.environ.get('BUDDY_BIND', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
# Threads let a worker wait on PostgreSQL and still serve; pages are short requests.
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("BUDDY_THREADS", 4))
timeout = 30
graceful_timeout = 30
keepalive = 5
# Restart workers now and then so a slow leak can never build up.
max_requests = 2000
max_requests_jitter = 200
# No preload: each worker creates its engine after the fork (connections are not shared).
preload_app = False
# No access log: it writes the raw path and query string, and signed links carry tokens in
# the path. The app logs one JSON line per request instead (buddy/logs.py), with the route.
accesslog = None
errorlog = "-"
# The app trusts X-Forwarded-* through ProxyFix (BUDDY_PROXY_HOPS), not gunicorn.
forwarded_allow_ips = "127.0.0.1"


def post_worker_init(worker):
    # The app, its settings, reference lists and compiled code live as long as the worker:
    # frozen, the garbage collector no longer walks them in every full collection. Measured
    # under `make load`: a worker's full collection stalled all its threads for 0.85-1.5 s,
    # and for 0.05-0.3 s once frozen.
    gc.freeze()
