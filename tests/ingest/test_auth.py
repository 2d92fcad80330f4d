"""Optional bearer token: every /v1 route needs it; probes and metrics stay open."""

from __future__ import annotations

import pytest

from shared.settings import Settings
from tests.apps import TOKEN, Api, assert_problem, deposit


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}],
    ids=["none", "wrong token", "wrong scheme"],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/transactions"),
        ("POST", "/v1/transactions/batch"),
        ("GET", "/v1/accounts/alice"),
        ("GET", "/v1/accounts/alice/transactions/t1"),
        ("GET", "/v1/accounts/alice/transactions"),
    ],
)
async def test_v1_route_without_the_right_token_is_401(
    guarded: Api, method: str, path: str, headers: dict[str, str]
) -> None:
    json = deposit("t1") if path == "/v1/transactions" else [deposit("t1")]
    body = json if method == "POST" else None
    response = await guarded.http.request(method, path, json=body, headers=headers)

    assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"
    assert await guarded.total_entries() == 0


async def test_right_token_is_let_in(guarded: Api) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    response = await guarded.http.post("/v1/transactions", json=deposit("t1"), headers=headers)
    assert response.status_code == 202
    assert await guarded.total_entries() == 1


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
async def test_probes_and_metrics_need_no_token(guarded: Api, path: str) -> None:
    assert (await guarded.http.get(path)).status_code == 200


async def test_without_a_configured_token_no_header_is_needed(api: Api) -> None:
    assert (await api.http.post("/v1/transactions", json=deposit("t1"))).status_code == 202


async def test_openapi_declares_bearer_auth_when_a_token_is_set(guarded: Api) -> None:
    schema = (await guarded.http.get("/openapi.json")).json()
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


def test_a_token_from_an_env_file_is_taken_without_its_surrounding_whitespace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TXFLOW_API_TOKEN", f" {TOKEN}\r")
    assert Settings().api_token == TOKEN
    monkeypatch.setenv("TXFLOW_API_TOKEN", "  ")
    assert Settings().api_token is None
