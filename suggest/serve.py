"""``suggest serve``: the engine over HTTP (FastAPI on uvicorn) and the agent console.

The app holds one ``Engine`` per worker process. ``Engine.reload()`` swaps the
compiled packs in one assignment, so a request sees the old packs or the new
ones, never a mix, and a broken pack is refused with its ``FILE:LINE``
problems while the old packs keep answering.

Everything a client sends is untrusted: the body is read by the guard
middleware below up to ``max_body`` bytes (also when chunked) within a read
timeout, every endpoint but ``/healthz`` and the static console wants the
bearer token when one is set, and no request names a file. Bad input is a 4xx
with a JSON body ``{"error": ..., "problems": [...]}``; nothing answers with a
traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StrictStr
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import __version__
from .batch import encode_record, process_line
from .engine import Engine
from .errors import InputError, PackError

log = logging.getLogger("suggest.serve")

MAX_BODY = 1024 * 1024  # bytes; a message is read up to 2000 characters anyway
MAX_HISTORY_ITEMS = 100  # the engine reads the last 10; more is a client bug, not a chat
READ_TIMEOUT = 10.0  # seconds a client may take to send its whole body
MAX_TOP = 50
# The console is static: these names, and only these, are served (no path comes from a request).
CONSOLE_FILES = {"index.html": "text/html; charset=utf-8", "console.js": "text/javascript; charset=utf-8",
                 "console.css": "text/css; charset=utf-8"}
_OPEN_PATHS = frozenset({"/healthz", "/", *(f"/console/{name}" for name in CONSOLE_FILES)})
GENERATION_ENV = "SUGGEST_SERVE_GENERATION"  # a file the workers watch to reload together
CONFIG_ENV = "SUGGEST_SERVE_CONFIG"


@dataclass(frozen=True)
class Settings:
    """What a server is started with (the same for every worker)."""

    intents: str | None = None
    replies: str | None = None
    tags: str | None = None
    shop: str | None = None
    token: str | None = None
    max_body: int = MAX_BODY
    max_history: int = MAX_HISTORY_ITEMS
    read_timeout: float = READ_TIMEOUT
    generation_file: str | None = None  # set with several workers

    def engine_args(self) -> dict[str, Any]:
        return {"intents": self.intents, "replies": self.replies, "tags": self.tags, "shop": self.shop}

    def to_json(self) -> str:
        return json.dumps(self.__dict__)

    @classmethod
    def from_json(cls, text: str) -> Settings:
        data = json.loads(text)
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


# -- request and response shapes (the CLI's --json shapes) ------------------------------------

class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AnalyzeRequest(_Strict):
    text: StrictStr = Field(description="The buyer's current message.")
    history: list[StrictStr] = Field(default_factory=list, description="Earlier messages, oldest first.")
    top: int = Field(default=3, ge=0, le=MAX_TOP, strict=True, description="How many replies.")


class ExplainRequest(_Strict):
    text: StrictStr
    history: list[StrictStr] = Field(default_factory=list)


class ReviewRequest(_Strict):
    draft: StrictStr = Field(description="The agent's draft reply.")
    buyer_message: StrictStr | None = Field(default=None, description="The buyer message it answers.")


class EvidenceOut(BaseModel):
    kind: str
    pattern: str
    span: list[int]
    text: str
    weight: float


class MatchOut(BaseModel):
    id: str
    score: float
    evidence: list[EvidenceOut]


class ReplyOut(BaseModel):
    id: str
    intent: str
    text: str


class AnalysisOut(BaseModel):
    text: str
    normalized: str
    intents: list[MatchOut]
    tags: list[MatchOut]
    replies: list[ReplyOut]
    stage: str | None
    truncated: bool
    timings_ms: dict[str, float]


class RuleOut(BaseModel):
    kind: str
    id: str
    score: float
    threshold: float
    evidence: list[EvidenceOut]
    excluded_by: str | None


class NearMissOut(BaseModel):
    rule_set: str
    kind: str
    pattern: str
    score: float
    needed: float
    text: str


class ExplanationOut(BaseModel):
    analysis: AnalysisOut
    tokens: list[str]
    rules: list[RuleOut]
    near_misses: list[NearMissOut]


class ReviewProblemOut(BaseModel):
    id: str
    reason: str
    start: int
    end: int
    text: str
    suggestion: str | None


class ReviewOut(BaseModel):
    draft: str
    buyer_message: str | None
    ok: bool
    problems: list[ReviewProblemOut]


class PackCounts(BaseModel):
    intents: int
    tags: int
    replies: int


class PacksOut(BaseModel):
    version: str = Field(description="The suggest version serving.")
    fingerprint: str = Field(description="A hash of every pack byte: the packs' version.")
    intents: list[str]
    tags: list[str]
    names: dict[str, str] = Field(description="Chinese names of the intents and types (the packs' zh).")
    counts: PackCounts
    loaded_at: float = Field(description="Unix time of the last (re)load.")
    load_ms: float
    reloads: int
    worker: int = Field(description="The process id of the worker that answered.")


class HealthOut(BaseModel):
    status: str


class ErrorOut(BaseModel):
    error: str
    problems: list[str] = Field(default_factory=list,
                                description="Each as FILE:LINE: key.path: message, or field: message.")


_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": what} for code, what in (
        (400, "Bad input: not JSON, wrong types, an empty message, too many history items"),
        (401, "Missing or wrong bearer token"),
        (408, "The client was too slow sending its body"),
        (413, "The body is larger than the limit"),
    )}


# -- pack state ------------------------------------------------------------------------------

class PackHolder:
    """The engine and what GET /v1/packs says about its packs; reloads one at a time.

    The description reads the pack files a second time (for the Chinese names
    and reply counts), so it is made when first asked for, not at start-up.
    """

    def __init__(self, settings: Settings, engine: Engine | None = None, load_seconds: float = 0.0) -> None:
        self.settings = settings
        started = time.perf_counter()
        self.engine = engine if engine is not None else Engine(**settings.engine_args())
        self._lock = threading.Lock()
        self.reloads = 0
        self._loaded = (time.time(), load_seconds if engine is not None else time.perf_counter() - started)
        self._info: PacksOut | None = None
        # the generation file's content this worker's packs are up to date with (several workers)
        self.generation_seen = _read_generation(settings.generation_file) if settings.generation_file else ""

    def info(self) -> PacksOut:
        with self._lock:
            if self._info is None:
                self._info = self._describe()
            return self._info

    def _describe(self) -> PacksOut:
        from .packs import load_packs
        from .sources import PackSources

        sources = PackSources.of(**self.settings.engine_args())
        packs = load_packs(sources)
        names = {p["id"]: p.get("zh", p["id"]) for p in packs.intents + packs.tags}
        replies = sum(len(p["replies"]) for p in packs.replies)
        intents, tags = list(self.engine.intent_ids), list(self.engine.tag_ids)
        loaded_at, seconds = self._loaded
        return PacksOut(version=__version__, fingerprint=sources.fingerprint()[:16], intents=intents, tags=tags,
                        names=names, counts=PackCounts(intents=len(intents), tags=len(tags), replies=replies),
                        loaded_at=loaded_at, load_ms=round(seconds * 1000, 1), reloads=self.reloads,
                        worker=os.getpid())

    def reload(self) -> None:
        """Re-read the packs; raises PackError (the old packs stay) when they are broken."""
        with self._lock:
            started = time.perf_counter()
            self.engine.reload()
            self.reloads += 1
            self._loaded = (time.time(), time.perf_counter() - started)
            self._info = None


def problem_lines(exc: PackError) -> list[str]:
    problems = [p for p in exc.problems if p.severity == "error"] or list(exc.problems)
    return [str(p) for p in problems] or [str(exc)]


# -- the guard: body size, read timeout, token --------------------------------------------------

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


async def _send_error(send: Send, status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None
                      ) -> None:
    body = json.dumps({"error": message, "problems": []}, ensure_ascii=False).encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close"), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


class Guard:
    """ASGI middleware: the token check, then the whole body read within limits before the app runs.

    Reading the body here (at most ``max_body`` bytes, all of it within
    ``read_timeout`` seconds) means a chunked body cannot slip past the size limit and
    a slow client gets a 408 instead of holding a handler.
    """

    def __init__(self, app: FastAPI, settings: Settings) -> None:
        self.app, self.settings = app, settings
        self._token = settings.token.encode("utf-8") if settings.token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._token is not None and scope["path"] not in _OPEN_PATHS and not self._authorized(scope):
            await _send_error(send, 401, "this server wants a bearer token: Authorization: Bearer TOKEN",
                              [(b"www-authenticate", b"Bearer")])
            return
        limit = self.settings.max_body
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await _send_error(send, 400, "the Content-Length header is not a number")
                    return
                if declared > limit:
                    await _send_error(send, 413, f"the body is larger than {limit} bytes")
                    return
        chunks: list[bytes] = []
        size = 0
        more = scope["method"] not in ("GET", "HEAD")
        # the whole body is due within read_timeout: one byte every few seconds does not hold a handler
        deadline = time.monotonic() + self.settings.read_timeout
        while more:
            try:
                message = await asyncio.wait_for(receive(), timeout=max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                await _send_error(send, 408, f"the body did not arrive within {self.settings.read_timeout:g} s")
                return
            if message["type"] == "http.disconnect":
                return
            piece = message.get("body", b"")
            size += len(piece)
            if size > limit:
                await _send_error(send, 413, f"the body is larger than {limit} bytes")
                return
            chunks.append(piece)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the disconnect, as a server would

        await self.app(scope, replay, send)

    def _authorized(self, scope: Scope) -> bool:
        assert self._token is not None
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                scheme, _, given = value.partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), self._token)
        return False


# -- the app ---------------------------------------------------------------------------------

def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data, ensure_ascii=False).encode("utf-8"), status_code=status,
                    media_type="application/json")


def _error(status: int, message: str, problems: list[str] | None = None) -> Response:
    return _json({"error": message, "problems": problems or []}, status)


def _validation_problems(exc: RequestValidationError, content_type: str) -> tuple[str, list[str]]:
    problems = []
    for item in exc.errors():
        loc = [part for part in item.get("loc", ()) if part != "body"]
        if item.get("type") == "json_invalid":
            at = f" at character {loc[-1]}" if loc else ""
            return "the body is not valid JSON", [f"{item.get('msg', 'invalid JSON')}{at}"]
        if not loc and "json" not in content_type:
            return "send the body as JSON, with Content-Type: application/json", []
        problems.append(f"{'.'.join(str(part) for part in loc) or 'body'}: {item.get('msg', 'invalid')}")
    return "the body does not have the expected fields and types", problems


def _console_file(name: str) -> bytes:
    return resources.files("suggest").joinpath("console", name).read_bytes()


def create_app(settings: Settings, engine: Engine | None = None, load_seconds: float = 0.0) -> Guard:
    """The ASGI app (the FastAPI app inside the guard, as ``.app``).

    ``engine`` may be one already built from the same pack options (it took
    ``load_seconds`` to build).
    """
    holder = PackHolder(settings, engine, load_seconds)
    app = FastAPI(title="suggest", version=__version__, docs_url=None, redoc_url=None,
                  description="Reply suggestions for Chinese e-commerce customer service. The bodies are "
                              "the CLI's --json shapes.", lifespan=_lifespan(holder))
    app.state.holder = holder

    @app.exception_handler(RequestValidationError)
    async def bad_body(request: Request, exc: RequestValidationError) -> Response:
        message, problems = _validation_problems(exc, request.headers.get("content-type", ""))
        return _error(400, message, problems)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 400 and "parsing the body" in str(exc.detail):
            return _error(400, "the body is not valid JSON text (UTF-8)")
        return _error(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def last_resort(request: Request, exc: Exception) -> Response:  # pragma: no cover - a bug if hit
        log.exception("internal error on %s", request.url.path)
        return _error(500, "internal error (logged on the server)")

    def history_of(items: list[str]) -> list[str] | Response:
        if len(items) > settings.max_history:
            return _error(400, f"too many history items: {len(items)}, the limit is {settings.max_history}")
        return items

    @app.post("/v1/analyze", response_model=AnalysisOut, responses=_ERRORS,
              summary="Intents, buyer types and replies for one message")
    async def analyze(body: AnalyzeRequest) -> Response:
        history = history_of(body.history)
        if isinstance(history, Response):
            return history
        try:
            return _json(holder.engine.analyze(body.text, history, top=body.top).to_dict())
        except InputError as exc:
            return _error(400, str(exc))

    @app.post("/v1/explain", response_model=ExplanationOut, responses=_ERRORS,
              summary="Every rule that fired or nearly fired")
    async def explain(body: ExplainRequest) -> Response:
        history = history_of(body.history)
        if isinstance(history, Response):
            return history
        try:
            return _json(holder.engine.explain(body.text, history).to_dict())
        except InputError as exc:
            return _error(400, str(exc))

    @app.post("/v1/review", response_model=ReviewOut, responses=_ERRORS,
              summary="Check an agent's draft reply")
    async def review(body: ReviewRequest) -> Response:
        try:
            return _json(holder.engine.review(body.draft, body.buyer_message).to_dict())
        except InputError as exc:
            return _error(400, str(exc))

    @app.post("/v1/batch", responses={**_ERRORS, 200: {
        "description": "NDJSON: one record per non-empty input line, in order, "
                       '{"line": N, ...analysis} or {"line": N, "error": "..."}',
        "content": {"application/x-ndjson": {"schema": {"type": "string"}}}}},
        response_class=StreamingResponse, summary="NDJSON in, NDJSON out (as `suggest batch`)",
        openapi_extra={"requestBody": {"required": True, "content": {
            "application/x-ndjson": {"schema": {"type": "string"}}}}})
    async def batch(request: Request, top: int = 3) -> Response:
        if not 0 <= top <= MAX_TOP:
            return _error(400, f"top must be from 0 to {MAX_TOP}, got {top}")
        body = await request.body()  # already read (and limited) by the guard
        engine = holder.engine  # one set of packs for the whole batch, even across a reload

        def records() -> Iterator[bytes]:  # a sync iterator: Starlette runs it in a thread
            for lineno, raw in enumerate(body.splitlines(keepends=True), 1):
                if raw.strip():
                    yield encode_record(process_line(engine, lineno, raw, top))[1]

        return StreamingResponse(records(), media_type="application/x-ndjson")

    @app.get("/v1/packs", response_model=PacksOut, responses=_ERRORS, summary="The packs being served")
    async def packs() -> Response:
        return _json((await run_in_threadpool(holder.info)).model_dump())

    @app.post("/v1/reload", response_model=PacksOut, summary="Re-read the packs",
              responses={**_ERRORS, 409: {"model": ErrorOut,
                                          "description": "The packs are broken; the old ones keep answering"}})
    async def reload() -> Response:
        try:
            await run_in_threadpool(holder.reload)
        except PackError as exc:
            return _error(409, "the packs are broken; the old packs keep answering", problem_lines(exc))
        if settings.generation_file:  # several workers: the others reload too
            holder.generation_seen = bump_generation(settings.generation_file)
        return _json((await run_in_threadpool(holder.info)).model_dump())

    @app.get("/healthz", response_model=HealthOut, summary="Liveness (no token needed)")
    async def healthz() -> Response:
        return _json({"status": "ok"})

    @app.get("/", include_in_schema=False)
    def console() -> Response:
        return Response(_console_file("index.html"), media_type=CONSOLE_FILES["index.html"])

    @app.get("/console/{name}", include_in_schema=False)
    def console_asset(name: str) -> Response:
        if name not in CONSOLE_FILES or name == "index.html":
            return _error(404, "no such file")
        return Response(_console_file(name), media_type=CONSOLE_FILES[name])

    _honest_openapi(app)
    return Guard(app, settings)


def _honest_openapi(app: FastAPI) -> None:
    """The schema without FastAPI's default 422 answers: bad bodies get a 400 here."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = original()
            for methods in schema.get("paths", {}).values():
                for operation in methods.values():
                    operation.get("responses", {}).pop("422", None)
            for name in ("HTTPValidationError", "ValidationError"):
                schema.get("components", {}).get("schemas", {}).pop(name, None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


# -- reloading on a signal, and with several workers -----------------------------------------------

def bump_generation(path: str) -> str:
    """Tell every worker watching ``path`` to reload; returns the new content."""
    file = Path(path)
    try:
        current = int(file.read_text(encoding="utf-8") or "0")
    except (OSError, ValueError):
        current = 0
    new = f"{current + 1}"
    temporary = file.with_suffix(f".{os.getpid()}")
    temporary.write_text(new, encoding="utf-8")
    temporary.replace(file)  # atomic: a watcher never reads half a number
    return new


def _read_generation(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError:
        return ""


def _reload_logged(holder: PackHolder, why: str) -> bool:
    try:
        holder.reload()
    except PackError as exc:
        log.error("%s: the packs are broken; the old packs keep answering:\n%s", why,
                  "\n".join(problem_lines(exc)))
        return False
    log.warning("%s: packs reloaded (%d reloads)", why, holder.reloads)
    return True


def _lifespan(holder: PackHolder) -> Callable[[FastAPI], Any]:
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        loop = asyncio.get_running_loop()
        settings = holder.settings
        tasks: list[asyncio.Task[None]] = []
        if settings.generation_file:
            tasks.append(asyncio.create_task(_watch_generation(holder, settings.generation_file)))
        elif threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGHUP"):
            def on_hup() -> None:
                asyncio.ensure_future(run_in_threadpool(_reload_logged, holder, "SIGHUP"))

            with contextlib.suppress(NotImplementedError, RuntimeError):  # no signals on this loop
                loop.add_signal_handler(signal.SIGHUP, on_hup)
        yield
        for task in tasks:
            task.cancel()

    return lifespan


async def _watch_generation(holder: PackHolder, path: str) -> None:
    while True:
        await asyncio.sleep(0.5)
        now = _read_generation(path)
        if now != holder.generation_seen:  # not when this worker bumped it itself
            holder.generation_seen = now
            await run_in_threadpool(_reload_logged, holder, "reload asked by another worker")


def app_from_env() -> Guard:
    """App factory for uvicorn workers (``--workers N``): the settings come in the environment."""
    settings = Settings.from_json(os.environ[CONFIG_ENV])
    return create_app(settings)


# -- running it ----------------------------------------------------------------------------------

def is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _server_class() -> type[Any]:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server, but SIGTERM ends in exit status 0 once the requests in flight are done.

        (uvicorn re-raises the signal after its graceful shutdown, which makes
        the status 143; a service manager should see a clean stop.)
        """

        def handle_exit(self, sig: int, frame: Any) -> None:
            if sig == signal.SIGTERM:
                self.should_exit = True  # the graceful shutdown, without re-raising afterwards
            else:
                super().handle_exit(sig, frame)

    return Server


def run(settings: Settings, host: str, port: int, workers: int, grace: float, engine: Engine | None = None,
        load_seconds: float = 0.0, log_level: str = "info") -> None:
    """Serve until SIGTERM/SIGINT; in-flight requests get ``grace`` seconds to finish."""
    import uvicorn

    # limit_concurrency: past that many connections and requests at once, a 503 instead of a pile-up
    common: dict[str, Any] = {"host": host, "port": port, "timeout_graceful_shutdown": grace,
                              "log_level": log_level, "server_header": False, "timeout_keep_alive": 5,
                              "limit_concurrency": 1000}
    if workers <= 1:
        _server_class()(uvicorn.Config(create_app(settings, engine, load_seconds), **common)).run()
        return
    import tempfile

    from uvicorn.supervisors import Multiprocess

    with tempfile.TemporaryDirectory(prefix="suggest-serve-") as folder:
        generation = str(Path(folder) / "generation")
        Path(generation).write_text("0", encoding="utf-8")
        settings = replace(settings, generation_file=generation)
        os.environ[CONFIG_ENV] = settings.to_json()
        config = uvicorn.Config("suggest.serve:app_from_env", factory=True, workers=workers, **common)

        class Supervisor(Multiprocess):
            def handle_hup(self) -> None:  # reload the packs in every worker, do not restart them
                bump_generation(generation)

        import inspect

        sockets = [config.bind_socket()]
        if "target" in inspect.signature(Multiprocess.__init__).parameters:  # uvicorn before 0.36 or so
            Supervisor(config, target=uvicorn.Server(config).run, sockets=sockets).run()  # type: ignore[call-arg]
        else:
            Supervisor(config, sockets=sockets).run()
