"""The inference API (FastAPI; OpenAPI at /docs). ``python -m app.api --host H --port P`` = ``make serve``.

Endpoints (contract in /work/shared/DESIGN.md, docs in docs/serving.md):
  GET  /v1/models                    list of model cards
  GET  /v1/models/{name}             one card
  POST /v1/models/{name}/predict     JSON in, JSON out (the body's shape depends on the model's task)
  GET  /healthz  /readyz  /metrics   process up · models loaded · Prometheus
  GET|POST /v1/noop                  does nothing: the benchmark's baseline for the server's own cost

Models are loaded once, at start (lifespan), from the registry (``ACADEMY_MODELS``; LATEST unless
pinned by ``ACADEMY_PIN=digits=v2``). Every error is ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import time
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.serving import HANDLERS, ModelServer, PredictResponse, ServingError

log = logging.getLogger("app.api")

MAX_BODY_BYTES = int(os.environ.get("ACADEMY_MAX_BODY_BYTES", 8 * 1024 * 1024))
# Bodies up to this size are predicted on the event loop (a digit costs ~0.3 ms of CPU, cheaper than a
# hop to the thread pool); bigger ones (a 512×512 array takes tens of ms to parse) go to the thread
# pool so they never stall other requests.
INLINE_BODY_BYTES = 64 * 1024
PREDICT_RE = re.compile(r"^/v1/models/([^/]+)/predict/?$")
CARD_RE = re.compile(r"^/v1/models/[^/]+/?$")
NAME_PATH = Path(description="model name, as listed by GET /v1/models", examples=["digits"])


def error(status: int, code: str, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


class Metrics:
    """Prometheus metrics of one app (its own registry, so several apps can live in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("academy_http_requests_total", "HTTP requests by endpoint, model and status",
                                ["endpoint", "model", "status"], registry=self.registry)
        self.errors = Counter("academy_http_errors_total", "Responses with status >= 400, by endpoint and model",
                              ["endpoint", "model", "status"], registry=self.registry)
        self.latency = Histogram("academy_http_request_duration_seconds", "Request latency by endpoint and model",
                                 ["endpoint", "model"], registry=self.registry,
                                 buckets=(.0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5))
        self.models = Gauge("academy_models_loaded", "Models loaded (1 per served name and version)",
                            ["model", "version"], registry=self.registry)


def endpoint_of(path: str, served: dict) -> tuple[str, str]:
    """(route template, model label). Unknown model names are all 'unknown': bounded label cardinality."""
    m = PREDICT_RE.match(path)
    if m:
        return "/v1/models/{name}/predict", m.group(1) if m.group(1) in served else "unknown"
    if path in ("/v1/models", "/v1/models/", "/v1/noop", "/healthz", "/readyz", "/metrics", "/docs",
                "/openapi.json"):
        return path.rstrip("/") or "/", "-"
    if CARD_RE.match(path):
        return "/v1/models/{name}", "-"
    return "other", "-"


class _BodyTooLarge(Exception):
    pass


class EdgeMiddleware:
    """Pure ASGI (no per-request task like BaseHTTPMiddleware): body-size limit → 413, and metrics."""

    def __init__(self, app, *, metrics: Metrics, server: ModelServer, max_body: int):
        self.app, self.metrics, self.server, self.max_body = app, metrics, server, max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        t0 = time.perf_counter()
        endpoint, model = endpoint_of(scope["path"], self.server.models)
        status = {"code": 500, "started": False}
        too_large = error(413, "payload_too_large", f"the request body is larger than {self.max_body} bytes: "
                                                     "send a smaller image (at most 512×512, or a PNG)")

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status["code"], status["started"] = message["status"], True
            await send(message)

        try:
            length = dict(scope.get("headers") or []).get(b"content-length")
            if length is not None and length.isdigit() and int(length) > self.max_body:
                await too_large(scope, receive, send_wrapper)
                return
            seen = 0

            async def receive_wrapper():
                nonlocal seen
                message = await receive()
                if message["type"] == "http.request":
                    seen += len(message.get("body", b""))
                    if seen > self.max_body:
                        raise _BodyTooLarge
                return message

            try:
                await self.app(scope, receive_wrapper, send_wrapper)
            except _BodyTooLarge:
                if not status["started"]:
                    await too_large(scope, receive, send_wrapper)
        finally:
            code = str(status["code"])
            self.metrics.requests.labels(endpoint, model, code).inc()
            if status["code"] >= 400:
                self.metrics.errors.labels(endpoint, model, code).inc()
            self.metrics.latency.labels(endpoint, model).observe(time.perf_counter() - t0)


def create_app(server: ModelServer | None = None, *, max_body: int = MAX_BODY_BYTES) -> FastAPI:
    """The ASGI app. Models load in the lifespan (once) unless ``server`` comes already loaded."""
    server = server or ModelServer()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if server.loaded_at is None:
            await run_in_threadpool(server.load)
        for m in server.models.values():
            metrics.models.labels(m.name, m.version).set(1)
        if not server.models:
            log.warning("no model could be loaded from %s: build them with `make models` (%s)", server.root,
                        "; ".join(f"{k}: {v}" for k, v in server.errors.items()) or "the registry is empty")
        yield

    app = FastAPI(title="AIaaS Academy inference API", version="1.0",
                  description="Predictions of the course's trained models. Errors are "
                              '`{"error": {"code", "message"}}`; see docs/serving.md.', lifespan=lifespan)
    app.state.server, app.state.metrics = server, metrics
    app.add_middleware(EdgeMiddleware, metrics=metrics, server=server, max_body=max_body)

    @app.exception_handler(ServingError)
    async def _serving_error(request: Request, e: ServingError):
        return error(e.status, e.code, e.message)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, e: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(e.status_code, "http_error")
        hint = {404: "see /docs for the endpoints", 405: "see /docs for the methods each endpoint takes"}
        msg = f"{e.detail}: {request.method} {request.url.path}; {hint.get(e.status_code, 'see /docs')}"
        return error(e.status_code, code, msg, headers=getattr(e, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, e: RequestValidationError):
        parts = [f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()[:3]]
        return error(422, "validation_error", "; ".join(parts) + ". See /docs for the expected request.")

    @app.exception_handler(Exception)
    async def _internal_error(request: Request, e: Exception):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error(500, "internal_error", "the server failed on this request; it was logged. Try again, "
                                            "and report it if it persists")

    @app.get("/healthz", tags=["ops"], summary="The process is up")
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], summary="Models are loaded (503 until then, or if none could be)",
             responses={503: {"description": "not ready"}})
    async def readyz():
        if not server.ready:
            why = "; ".join(f"{k}: {v}" for k, v in server.errors.items()) or f"no models in {server.root}"
            return error(503, "not_ready", f"no model is loaded ({why}). Build them with `make models`")
        return {"status": "ready", "models": {m.name: m.version for m in server.models.values()},
                "errors": server.errors}

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics: requests, errors, latency per model",
             response_class=Response)
    async def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    noop_doc = ("Reads the request body (if any), ignores it and answers `{\"ok\": true}`: the same server, "
                "routing, middleware and JSON response as predict, without validation or the model. "
                "`benchmarks/bench_serving.py` compares predict's latency with this one's.")

    @app.get("/v1/noop", tags=["ops"], summary="Does nothing (benchmark baseline)", description=noop_doc)
    async def noop_get() -> dict:
        return {"ok": True}

    @app.post("/v1/noop", tags=["ops"], summary="Does nothing with a body (benchmark baseline)",
              description=noop_doc)
    async def noop_post(request: Request) -> dict:
        await request.body()
        return {"ok": True}

    @app.get("/v1/models", tags=["models"], summary="Cards of every served model")
    async def list_models() -> list[dict[str, Any]]:
        return server.cards()

    @app.get("/v1/models/{name}", tags=["models"], summary="One model's card",
             responses={404: {"description": "no such model"}})
    async def get_model(name: str = NAME_PATH) -> dict[str, Any]:
        return server.get(name).card

    @app.post("/v1/models/{name}/predict", tags=["models"], summary="Predict with a model",
              response_model=PredictResponse,
              description="The body depends on the model's task (its card's `task`). "
                          + " ".join(f"**{t}**: {h.usage}" for t, h in HANDLERS.items()),
              openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {
                  "anyOf": [{"$ref": f"#/components/schemas/{h.request_model.__name__}"}
                            for h in HANDLERS.values()]}}}}},
              responses={400: {"description": "body is not JSON"}, 404: {"description": "no such model"},
                         413: {"description": "body too large"}, 422: {"description": "invalid input"}})
    async def predict(request: Request, name: str = NAME_PATH):
        served = server.get(name)
        body = await request.body()
        if len(body) <= INLINE_BODY_BYTES:
            out = served.predict(body)
        else:
            out = await run_in_threadpool(served.predict, body)
        return JSONResponse(out)

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for h in HANDLERS.values():
                js = h.request_model.model_json_schema(ref_template="#/components/schemas/{model}")
                components.update(js.pop("$defs", {}))
                components[h.request_model.__name__] = js
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi
    return app


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m app.api", description=__doc__.splitlines()[0])
    p.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
    p.add_argument("--log-level", default=os.environ.get("LOG_LEVEL", "info"))
    p.add_argument("--access-log", action="store_true", help="log every request (off: it costs latency)")
    args = p.parse_args(argv)
    import torch
    import uvicorn

    # One intra-op thread: an 8×8 input is far too small to gain from more, and replicas scale out instead.
    torch.set_num_threads(int(os.environ.get("ACADEMY_TORCH_THREADS", 1)))
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    try:
        server = ModelServer().load()
    except ValueError as e:          # a malformed ACADEMY_PIN
        print(f"error: {e}", file=sys.stderr)
        return 2
    for m in server.models.values():
        print(f"serving {m.name} {m.version} ({m.card.get('task')}) from {server.root}", flush=True)
    for name, why in server.errors.items():
        print(f"warning: {name} not served: {why}", file=sys.stderr, flush=True)
    app = create_app(server)
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=args.access_log)
    except SystemExit as e:
        return int(e.code or 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
