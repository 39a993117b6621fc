"""Schemathesis over the whole OpenAPI document with a large budget: no generated request may
get a 5xx. The test suite runs the same check with 30 examples per operation; this runs many
more, against a fresh embedded PostgreSQL and the local model.

    python bench/fuzz.py                 # 300 examples per operation (~10 minutes)
    python bench/fuzz.py --examples 50   # a quick run
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings

from konstruct_memory.config import Settings
from konstruct_memory.db.embedded import EmbeddedServer
from konstruct_memory.library import Memory
from konstruct_memory.serving import create_app

ADMIN_TOKEN = "fuzz-admin-token-of-a-throwaway-server"  # noqa: S105 - its 32+ characters


def fuzz(operation: Any, headers: dict[str, str], examples: int, seen: Counter[int]) -> list[str]:
    failures: list[str] = []

    @given(case=operation.as_strategy())
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
        response = case.call(headers=headers)
        seen[response.status_code] += 1
        if response.status_code >= 500:
            failures.append(f"{case.method} {case.path}: {response.status_code} {response.text}")

    check()
    return failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=300)
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="km-bench-fuzz-"))
    try:
        # Generated requests carry bad credentials by the thousand, all from one address.
        config = Settings(data_dir=data_dir, retention_interval_s=0, failed_auth_burst=10**9)
        with Memory.open(config) as memory:
            tenant = memory.create_tenant("fuzz")
            key = memory.create_api_key(tenant.id, scopes=["read", "write", "erase", "audit"])
            app = create_app(config, memory=memory, admin_token=ADMIN_TOKEN)
            schema = schemathesis.openapi.from_asgi("/openapi.json", app)
            seen: Counter[int] = Counter()
            failures: list[str] = []
            operations = [result.ok() for result in schema.get_all_operations()]
            for operation in operations:
                admin = operation.path.startswith(("/v1/tenants", "/v1/api-keys"))
                token = ADMIN_TOKEN if admin else key.api_key
                headers = {"Authorization": f"Bearer {token}"}
                failures += fuzz(operation, headers, args.examples, seen)
                print(f"{operation.method.upper():6} {operation.path}: done")
        print(
            f"\n{len(operations)} operations, {sum(seen.values())} requests, statuses "
            f"{dict(sorted(seen.items()))}: {len(failures)} with a 5xx"
        )
        for failure in failures[:20]:
            print("  " + failure)
    finally:
        EmbeddedServer(data_dir).stop()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
