"""``python -m analytics.query "SELECT ..."``: read-only SQL against the analytics store.

Only reads are sent (``analytics.scope.statement_refusal``): SELECT or WITH ... SELECT, and for the
local operator also SHOW, DESCRIBE, EXISTS and EXPLAIN.

Against a ClickHouse server (CLICKHOUSE_URL) it queries the server with ``readonly=1``. In the
embedded setup the chDB directory belongs to the running analytics process, so the statement
goes to that process's loopback endpoint, which runs it with ``readonly=1`` too.
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.error
import urllib.request
from typing import Any

import clickhouse_connect
import orjson

from analytics.scope import OPERATOR_READS, TENANT_READS, statement_refusal
from config.settings import Settings
from schemas.errors import AssistantError


class QueryError(AssistantError, RuntimeError):
    pass


def run_query(settings: Settings, sql: str, api_key: str | None = None) -> dict[str, Any]:
    """Columns and rows of one read-only statement; with an analyst's ``api_key``, only that
    key's tenant's rows. Anything but a read is refused here, before any engine sees it (the
    analytics process checks again)."""
    why = statement_refusal(sql, TENANT_READS if api_key is not None else OPERATOR_READS)
    if why is not None:
        raise QueryError(why)
    if settings.clickhouse_url and api_key is None:
        client = clickhouse_connect.get_client(dsn=settings.clickhouse_url)
        try:
            result = client.query(sql, settings={"readonly": 1})
            return {"columns": list(result.column_names), "rows": result.result_rows}
        finally:
            client.close()
    headers = {"Authorization": f"Bearer {api_key}"} if api_key is not None else {}
    request = urllib.request.Request(f"http://127.0.0.1:{settings.analytics_port}/query",
                                     data=sql.encode(), method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - loopback
            answer: dict[str, Any] = orjson.loads(response.read())
            return answer
    except urllib.error.HTTPError as error:
        raise QueryError(orjson.loads(error.read()).get("error", str(error))) from None
    except urllib.error.URLError as error:
        raise QueryError(
            f"the analytics process is not answering on 127.0.0.1:{settings.analytics_port} "
            f"({error.reason}); start the stack with `make up`") from None


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m analytics.query")
    parser.add_argument("sql")
    parser.add_argument("--api-key", default=os.environ.get("ANALYST_API_KEY"),
                        help="an analyst key: the query sees only that key's tenant "
                        "(default $ANALYST_API_KEY; none: the local operator sees everything)")
    args = parser.parse_args()
    try:
        result = run_query(Settings.from_env(), args.sql, args.api_key)
    except QueryError as error:
        print(f"query failed: {error}", file=sys.stderr)
        return 1
    print("\t".join(result["columns"]))
    for row in result["rows"]:
        print("\t".join("" if v is None else str(v) for v in row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
