"""The baseline: a bare FastAPI endpoint that only answers 200, served by uvicorn.

The load harness sends the same requests here and to the bot, so the cost of the
bot's ingestion path is reported as a ratio that holds on a noisy machine.
"""

from __future__ import annotations

import argparse

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response


def create_bare_app() -> FastAPI:
    app = FastAPI()

    @app.post("/{path:path}")
    async def ok(path: str, request: Request) -> Response:
        await request.body()
        return Response(status_code=200)

    @app.get("/healthz")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8099)
    args = parser.parse_args()
    uvicorn.run(create_bare_app(), host="127.0.0.1", port=args.port, log_level="warning",
                access_log=False)


if __name__ == "__main__":
    main()
