"""``/metrics``: Prometheus text with requests, latencies, rate-limit refusals and credits by endpoint."""

from __future__ import annotations

import re

import httpx

from tests.conftest import MakeAccount


async def test_metrics_count_requests_refusals_and_credits(
    client: httpx.AsyncClient, make_account: MakeAccount
) -> None:
    account = await make_account(credits=10, rate_limit=2)
    headers = {"Authorization": f"Bearer {account.key}"}

    async def value(name: str, **labels: str) -> float:
        text = (await client.get("/metrics")).text
        for line in text.splitlines():
            if line.startswith(f"{name}{{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
        return 0.0  # a series appears with its first count

    ok_before = await value("leadsmith_requests_total", endpoint="/email/verify", status="200")
    limited_before = await value("leadsmith_rate_limited_total", endpoint="/email/verify")
    credits_before = await value("leadsmith_credits_charged_total", endpoint="/email/verify")
    statuses = [
        (await client.post("/email/verify", json={"email": "jane@known.test"}, headers=headers)).status_code
        for _ in range(3)
    ]
    assert statuses == [200, 200, 429]
    assert await value("leadsmith_requests_total", endpoint="/email/verify", status="200") == ok_before + 2
    assert await value("leadsmith_rate_limited_total", endpoint="/email/verify") == limited_before + 1
    assert await value("leadsmith_credits_charged_total", endpoint="/email/verify") == credits_before + 2
    text = (await client.get("/metrics")).text
    assert "# TYPE leadsmith_request_duration_seconds histogram" in text
    assert re.search(
        r'leadsmith_request_duration_seconds_bucket\{endpoint="/email/verify",worker="\d+",le="\+Inf"\} \d+', text
    )
    # Unknown paths are counted together, so probing cannot blow up the number of series.
    await client.get("/no/such/path/" + "x" * 40)
    assert "/no/such/path" not in (await client.get("/metrics")).text
