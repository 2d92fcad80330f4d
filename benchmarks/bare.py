"""``python -m benchmarks.bare --port PORT [--fastapi]``: the single-POST baselines.

A raw ASGI app (or, ``--fastapi``, one FastAPI route, for context) that reads
the body and answers 202 with no I/O, under uvicorn with the ingest's settings.
"""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, Response

ACCEPTED = b'{"accepted":true}'
HEADERS = [(b"content-type", b"application/json")]
AS_INGEST = {"loop": "uvloop", "http": "httptools", "log_level": "warning", "access_log": False}


async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    while (await receive()).get("more_body"):  # the whole body, as the ingest reads it
        pass
    status = 200 if scope["path"] == "/healthz" else 202
    await send({"type": "http.response.start", "status": status, "headers": HEADERS})
    await send({"type": "http.response.body", "body": ACCEPTED})


def fastapi() -> FastAPI:
    async def accept(request: Request) -> Response:
        await request.body()
        return Response(ACCEPTED, 202, media_type="application/json")

    app = FastAPI()
    for path in ("/v1/transactions", "/v1/transactions/batch"):
        app.add_api_route(path, accept, methods=["POST"])
    app.add_api_route("/healthz", lambda: {"status": "ok"})
    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--fastapi", action="store_true")
    args = parser.parse_args()
    app = fastapi() if args.fastapi else asgi
    uvicorn.run(app, host="127.0.0.1", port=args.port, **AS_INGEST)
