"""The HTTP API over one bundle (FastAPI): ``POST /predict`` (beats), ``POST /predict/record`` (a signal and
its sampling rate as JSON, beats at the R peaks XQRS finds), ``POST /predict/upload`` (an uploaded recording,
``uploads``),
``GET /model`` (the bundle's metadata), ``GET /health``, and ``GET /`` the page that uploads a recording
and draws its classified beats (``page.html``, self-contained: it works offline).

The model is loaded once, before the app is made. Bodies are read and checked here, not by pydantic, so
every bad input gets a 4xx JSON ``{"error": ...}`` that says what is wrong; inference runs in Starlette's
thread pool (one at a time: Keras' predict is not made for concurrent calls), never on the event loop.
"""

import json
import os
import threading
from pathlib import Path

import numpy as np

try:  # parses and writes the batched calls' JSON several times faster; json does it without
    import orjson
except ImportError:
    orjson = None

from benchmark.errors import DataError
from benchmark.serving.inputs import MAX_SIGNAL_SAMPLES, NoBeats

from benchmark.serving.schema import (MAX_ABS_VALUE, MAX_BEATS, MAX_BODY_BYTES, POST_ERRORS, RECORD_SCHEMA,
                                      UNSUPPORTED, UPLOAD_SCHEMA, BeatsAnswer, Health, ModelCard, RecordAnswer,
                                      beats_schema)

PAGE = Path(__file__).with_name("page.html")


class BadInput(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def numbers(value, what: str, ndim: int, booleans: bool = True) -> np.ndarray:
    """``value`` (parsed JSON) as a finite float array of ``ndim`` dimensions, or why not. ``booleans``: whether
    the body may hold any (``Body.booleans``); if not, the value-by-value search for them is skipped."""
    if not isinstance(value, list) or not value:
        raise BadInput(422, f"{what} must be a non-empty list{' of lists' if ndim == 2 else ''} of numbers")
    try:
        array = np.asarray(value)
    except ValueError:  # ragged
        lengths = sorted({len(v) if isinstance(v, list) else -1 for v in value})
        raise BadInput(422, f"{what}: every row must be a list of the same length, got lengths "
                            f"{', '.join('not a list' if n < 0 else str(n) for n in lengths)}") from None
    if array.dtype == object:  # integers past 64 bits (numbers), or nulls among numbers (not)
        try:
            array = array.astype(np.float64)
        except (TypeError, ValueError, OverflowError):
            raise BadInput(422, f"{what} holds values that are not numbers (strings, booleans or nulls) or are "
                                "beyond a float's range") from None
    if array.ndim != ndim:
        raise BadInput(422, f"{what} must be {'a list of lists' if ndim == 2 else 'a flat list'} of numbers, "
                            f"got {array.ndim} level(s) of nesting")
    flat = value if ndim == 1 else (v for row in value for v in row)
    if array.dtype.kind not in "iuf" or (booleans and any(isinstance(v, bool) for v in flat)):  # numpy: True is 1
        raise BadInput(422, f"{what} holds values that are not numbers (strings, booleans or nulls)")
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        raise BadInput(422, f"{what} holds NaN or infinite values")
    if array.size and np.abs(array).max() > MAX_ABS_VALUE:
        raise BadInput(422, f"{what} holds values beyond ±{MAX_ABS_VALUE:g}; send the signal in mV (or a beat "
                            "scaled to [0, 1])")
    return array.astype(np.float32)


def parse_beats(body: "Body", length: int) -> np.ndarray:
    payload = body.payload
    if not isinstance(payload, dict) or "beats" not in payload:
        raise BadInput(422, 'the body must be a JSON object {"beats": [[...], ...]}')
    beats = payload["beats"]
    if isinstance(beats, list) and len(beats) > MAX_BEATS:
        raise BadInput(422, f"{len(beats)} beats in one call; at most {MAX_BEATS} (send them in batches)")
    x = numbers(beats, "beats", 2, body.booleans)
    if x.shape[1] != length:
        raise BadInput(422, f"each beat must have {length} samples (the model's window at its rate), "
                            f"got {x.shape[1]}")
    return x


def parse_record(body: "Body") -> tuple[np.ndarray, float]:
    from benchmark.serving.inputs import check_fs

    payload = body.payload
    if not isinstance(payload, dict) or "signal" not in payload or "fs" not in payload:
        raise BadInput(422, 'the body must be a JSON object {"signal": [...], "fs": HZ}')
    signal = payload["signal"]
    if isinstance(signal, list) and len(signal) > MAX_SIGNAL_SAMPLES:
        raise BadInput(422, f"signal of {len(signal)} samples; at most {MAX_SIGNAL_SAMPLES} per call")
    fs = payload["fs"]
    if isinstance(fs, bool) or not isinstance(fs, (int, float)):
        raise BadInput(422, f"fs must be a number of Hz, got {fs!r}")
    try:
        fs = check_fs(fs)
    except DataError as exc:
        raise BadInput(422, str(exc)) from None
    return numbers(signal, "signal", 1, body.booleans), fs


class Body:
    """A parsed JSON body; ``booleans``: whether its text holds ``true`` or ``false`` anywhere (if not, no value
    in it is a boolean, and a 1,000-beat call is spared a search through 187,000 values)."""

    def __init__(self, payload, raw: bytes):
        self.payload = payload
        self.booleans = b"true" in raw or b"false" in raw


def loads(raw: bytes):
    """JSON as ``json.loads`` reads it; by orjson where it can (it refuses NaN and integers past 64 bits, which
    json reads, so the two never disagree on what a body holds)."""
    if orjson is not None:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    return json.loads(raw)


def json_response(content, status: int = 200):
    """A JSON response of plain JSON values, written directly (FastAPI's encoder walks every value first: about
    50 ms for a 1,000-beat answer)."""
    from starlette.responses import Response

    data = orjson.dumps(content) if orjson is not None else json.dumps(content, separators=(",", ":")).encode()
    return Response(data, status_code=status, media_type="application/json")


async def read_json(request, limit: int | None = None) -> Body:
    """The request's JSON body, refused past ``limit`` bytes (default ``MAX_BODY_BYTES``) before it is all read."""
    limit = limit or MAX_BODY_BYTES
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BadInput(413, f"body of {int(declared)} bytes; at most {limit}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BadInput(413, f"body over {limit} bytes")
    if not body.strip():
        raise BadInput(400, "empty body; send JSON")
    try:
        return Body(loads(bytes(body)), body)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise BadInput(400, f"body is not valid JSON ({exc})") from None


def _media_type(request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def create_app(bundle):
    """The API over a loaded bundle (``benchmark.serving.bundle.load_bundle``)."""
    from fastapi import FastAPI, Request
    from fastapi.responses import HTMLResponse, JSONResponse
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException

    from benchmark.serving.inputs import signal_beats
    from benchmark.serving.predict import classify, summary
    from benchmark.serving.uploads import UploadError, display_signal, read_upload, upload_beats

    classes = bundle.classes
    lock = threading.Lock()
    app = FastAPI(title="ECG beat classifier", version=str(bundle.metadata.get("format")),
                  description=f"Classifies heartbeats with run {bundle.metadata['run']['run_id']} "
                              f"({bundle.metadata['task']}: {', '.join(classes)}).")

    @app.exception_handler(BadInput)
    @app.exception_handler(UploadError)
    async def bad_input(request, exc: BadInput | UploadError):
        return JSONResponse({"error": str(exc)}, status_code=exc.status)

    @app.exception_handler(HTTPException)
    async def http_error(request, exc: HTTPException):  # its headers too: a 405's Allow (RFC 9110)
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    def predict(x: np.ndarray, rr: np.ndarray | None = None) -> list[dict]:
        with lock:
            proba = bundle.predict_proba(x, rr)
        return [{"class": classes[k], "probabilities": dict(zip(classes, p))}
                for k, p in zip(proba.argmax(axis=1).tolist(), proba.tolist())]

    page = PAGE.read_text()

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index():
        return page

    @app.get("/health", response_model=Health)
    def health():
        return {"status": "ok", "model": bundle.metadata["run"]["run_id"], "runtime": bundle.runtime}

    @app.get("/model", response_model=ModelCard)
    def model():
        """The bundle's metadata (bundle.json) and its model card's text (``model_card_text``; null for a bundle
        exported before it had one)."""
        return {**bundle.metadata, "model_card_text": bundle.card}

    @app.post("/predict", response_model=BeatsAnswer, responses=POST_ERRORS, openapi_extra={"requestBody": {
        "required": True, "content": {"application/json": {"schema": beats_schema(bundle.length)}}}})
    async def predict_beats(request: Request):
        x = parse_beats(await read_json(request), bundle.length)
        try:
            return json_response({"predictions": await run_in_threadpool(predict, x)})
        except DataError as exc:  # a model that needs RR intervals cannot classify beats without their record
            raise BadInput(422, f"{exc}; send the recording to /predict/record") from None

    def no_beats(source: str, fs, exc: NoBeats) -> dict:
        """The answer to a valid recording in which no beat was found (too short, or none usable): no beats and why,
        not an error."""
        return {"model": bundle.metadata["run"]["run_id"], "source": source, "fs": fs, "predictions": [],
                "summary": summary([], classes), "note": str(exc)}

    def record_answer(beats, with_signal: bool) -> dict:
        try:
            with lock:
                result = classify(bundle, beats)
            answer = {"model": result["model"], "source": result["source"], "fs": beats.fs,
                      "predictions": result["rows"], "summary": result["summary"]}
        except NoBeats as exc:
            answer = no_beats(beats.source, beats.fs, exc)
        answer["warnings"] = bundle.warnings(beats)
        if with_signal:
            answer["signal"] = display_signal(beats, bundle.params)
        return answer

    @app.post("/predict/record", response_model=RecordAnswer, responses={**POST_ERRORS, **UNSUPPORTED},
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": RECORD_SCHEMA}}}})
    async def predict_record(request: Request):
        """A recording as JSON: each beat's sample, class and probabilities, and a class summary (no beats, and a
        note saying why, when none is found)."""
        if _media_type(request) == "multipart/form-data":
            raise BadInput(415, "an upload goes to /predict/upload; /predict/record takes JSON {signal, fs}")
        signal, fs = parse_record(await read_json(request))

        def work():
            try:
                beats = signal_beats(signal, fs, bundle.params)
            except NoBeats as exc:
                return no_beats("signal", fs, exc)
            return record_answer(beats, with_signal=False)

        return await answer(work)

    @app.post("/predict/upload", response_model=RecordAnswer, responses={**POST_ERRORS, **UNSUPPORTED},
              openapi_extra={"requestBody": {"required": True, "content": {
                  "multipart/form-data": {"schema": UPLOAD_SCHEMA}}}})
    async def predict_upload(request: Request):
        """An uploaded recording (a CSV, or a WFDB record's files): as /predict/record, and the lead to draw
        (``signal``; null for Kaggle-layout beats)."""
        if _media_type(request) != "multipart/form-data":
            raise BadInput(415, "an upload is multipart/form-data (files, and fs for a one-column CSV); JSON goes to "
                                "/predict/record")
        upload = await read_upload(request)
        return await answer(lambda: record_answer(upload_beats(upload, bundle.params), with_signal=True))

    async def answer(work):
        try:
            return json_response(await run_in_threadpool(work))
        except DataError as exc:
            raise BadInput(422, str(exc)) from None

    return app


def from_environment():
    """The app over the bundle named by ``ECG_BENCH_BUNDLE``, run by ``ECG_BENCH_RUNTIME`` (default keras):
    ``uvicorn --factory benchmark.serving.app:from_environment`` serves with the onnx runtime in a process
    that never imports TensorFlow (the command line imports Keras to list its models)."""
    from benchmark.serving.bundle import load_bundle

    if not os.environ.get("ECG_BENCH_BUNDLE"):
        raise DataError("ECG_BENCH_BUNDLE is not set; name the bundle folder to serve")
    return create_app(load_bundle(Path(os.environ["ECG_BENCH_BUNDLE"]), os.environ.get("ECG_BENCH_RUNTIME", "keras")))
