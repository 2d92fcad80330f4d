"""The ingest benchmark's baseline server: a bare FastAPI endpoint that does no I/O.

``python -m benchmarks.bare --port PORT``

``POST /v1/transactions`` and ``/v1/transactions/batch`` read the body and
answer a constant ``202``; ``GET /healthz`` answers ``200``. Served by uvicorn
as the ingest is (uvloop, httptools, no access log), in its own process. Its
own module so that only this process imports FastAPI.
"""

from __future__ import annotations

import argparse
import sys

import uvicorn
from fastapi import FastAPI, Request, Response


async def accept(request: Request) -> Response:
    await request.body()
    return Response(b'{"accepted":true}', 202, media_type="application/json")


async def healthz() -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


def app() -> FastAPI:
    bare = FastAPI()
    bare.add_api_route("/v1/transactions", accept, methods=["POST"])
    bare.add_api_route("/v1/transactions/batch", accept, methods=["POST"])
    bare.add_api_route("/healthz", healthz)
    return bare


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    uvicorn.run(
        app(), host="127.0.0.1", port=args.port, loop="uvloop", http="httptools",
        log_level="warning", access_log=False,
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
