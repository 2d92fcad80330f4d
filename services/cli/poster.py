"""Posting transactions through the API in order, and waiting until they are applied."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson

from services.worker.accounts import Account
from shared.model import Tx
from shared.money import parse_balance
from shared.streams import id_key

RETRYABLE = {429, 503}


class ApiError(RuntimeError):
    """Raised when the API answers something a retry cannot fix."""


def api_client(api: str, token: str | None) -> httpx.Client:
    """An HTTP client of the ingest at ``api``, sending ``token`` as a bearer token.

    Any ``401``/``403`` answer raises ``ApiError`` saying so in one line.
    """
    headers = {"authorization": f"Bearer {token}"} if token else {}
    hooks = {"response": [refused_with(token)]}
    return httpx.Client(base_url=api, timeout=60, headers=headers, event_hooks=hooks)


def refused_with(token: str | None) -> Callable[[httpx.Response], None]:
    def check(response: httpx.Response) -> None:
        if response.status_code not in (401, 403):
            return
        response.read()
        try:
            detail = response.json().get("detail", "")
        except ValueError:
            detail = response.text[:200]
        what = f"{response.status_code}: {detail}" if detail else str(response.status_code)
        if token:
            raise ApiError(f"ingest refused the token ({what}); check TXFLOW_API_TOKEN or --token")
        raise ApiError(f"ingest asks for a token ({what}); set TXFLOW_API_TOKEN or give --token")

    return check


class Poster:
    """Buffers transactions into batch POSTs, sent strictly in order.

    Retries 429 / 503 / lost connections with the same ids: safe, because the
    workers treat a repeated ``(account_id, tx_id)`` as a duplicate. Remembers
    the highest stream ID accepted per shard to know when all are applied.
    """

    def __init__(self, http: httpx.Client, batch: int = 1000, patience_s: float = 300) -> None:
        self.http = http
        self.batch = batch
        self.patience_s = patience_s
        self.pending: list[Tx] = []
        self.high: dict[int, str] = {}  # shards not known to be applied up to here yet
        self.spans: dict[int, tuple[str, str]] = {}  # first and last stream ID per shard
        self.accepted = 0

    def add(self, tx: Tx) -> None:
        self.pending.append(tx)
        if len(self.pending) >= self.batch:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        body = orjson.dumps([tx.to_wire() for tx in self.pending])
        results = self._post(body)["results"]
        for r in results:
            shard, stream_id = r["shard"], r["stream_id"]
            if shard not in self.high or id_key(stream_id) > id_key(self.high[shard]):
                self.high[shard] = stream_id
            first, _ = self.spans.get(shard, (stream_id, ""))
            self.spans[shard] = (first, self.high[shard])
        self.accepted += len(results)
        self.pending.clear()

    def _post(self, body: bytes) -> dict[str, Any]:
        deadline = time.monotonic() + self.patience_s
        while True:
            try:
                r = self.http.post(
                    "/v1/transactions/batch",
                    content=body,
                    headers={"content-type": "application/json"},
                )
                if r.status_code == 202:
                    doc: dict[str, Any] = r.json()
                    return doc
                if r.status_code not in RETRYABLE:
                    raise ApiError(f"ingest answered {r.status_code}: {r.text[:300]}")
                wait = float(r.headers.get("retry-after", "1"))
            except httpx.TransportError as e:
                if time.monotonic() > deadline:
                    raise ApiError(f"ingest unreachable: {e}") from None
                wait = 0.5
            if time.monotonic() > deadline:
                raise ApiError("ingest kept refusing the load (429/503)")
            time.sleep(wait)

    def wait_applied(self, poll_s: float = 0.05) -> None:
        """Block until every shard's checkpoint reached what was accepted on it."""
        deadline = time.monotonic() + self.patience_s
        while self.high:
            shards = self.http.get("/v1/shards").json()["shards"]
            for s in shards:
                high = self.high.get(s["shard"])
                if high is not None and s["ckpt"] and id_key(s["ckpt"]) >= id_key(high):
                    del self.high[s["shard"]]
            if self.high and time.monotonic() > deadline:
                raise ApiError(f"shards {sorted(self.high)} did not catch up; are workers running?")
            if self.high:
                time.sleep(poll_s)


def fetch_account(http: httpx.Client, account_id: str) -> Account:
    r = http.get(f"/v1/accounts/{account_id}")
    if r.status_code == 404:
        return Account()
    r.raise_for_status()
    doc = r.json()
    return Account(parse_balance(doc["available"]), parse_balance(doc["held"]), doc["locked"])
