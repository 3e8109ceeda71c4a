"""``python -m analytics``: the feedback sink into ClickHouse and the analysts' query endpoint."""

from analytics.sink import serve_analytics
from runtime.service import run_service

if __name__ == "__main__":
    raise SystemExit(run_service("analytics", serve_analytics))
