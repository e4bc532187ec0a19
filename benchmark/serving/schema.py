"""The API's contract, as its OpenAPI schema publishes it: the answer of every endpoint (pydantic models), the
error body of every status code it can return, and the bounds the code enforces on a request, so that a client
generated from ``/openapi.json`` knows all of them (schemathesis checks it against a live server in CI).

Requests are read by ``benchmark.serving.app`` itself, not by pydantic (a 1,000-beat body is parsed several
times faster, and every bad input gets an error that says what is wrong); their JSON schemas here state the
same bounds that code checks.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from benchmark.serving.inputs import MAX_FS, MAX_SIGNAL_SAMPLES, MIN_FS

MAX_BODY_BYTES = 16 * 2 ** 20  # 16 MiB: a 30-minute record at 360 Hz as JSON is about 8 MiB
MAX_BEATS = 10_000  # per /predict call
MAX_ABS_VALUE = 1e6  # of any sample sent: a beat's (its window is scaled to [0, 1]) or a raw signal's (mV, ADC units)


class ErrorBody(BaseModel):
    error: str = Field(description="what was wrong with the request, and what to do about it")


class Health(BaseModel):
    status: Literal["ok"]
    model: str = Field(description="the run the bundle's model comes from")
    runtime: str = Field(description="keras or onnx")


class BeatClass(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    class_: str = Field(alias="class", description="the most probable class")
    probabilities: dict[str, float] = Field(description="each class's probability")


class BeatsAnswer(BaseModel):
    predictions: list[BeatClass] = Field(description="one per beat sent, in order")


class RecordBeat(BeatClass):
    beat: int = Field(description="the beat's index")
    sample: int | None = Field(description="its R peak's sample in the recording (none for Kaggle-layout beats)")
    given_class: str | None = Field(None, description="the class the uploaded file gave it, in the model's task")


class Summary(BaseModel):
    beats: int
    per_class: dict[str, int] = Field(description="beats predicted per class, every class named")
    agreeing_with_given_class: int | None = None


class DisplaySignal(BaseModel):
    fs: float
    recording_fs: float
    seconds: float
    values: list[float]


class RecordAnswer(BaseModel):
    model: str
    source: str
    fs: float | None = Field(description="the recording's sampling rate in Hz (none for Kaggle-layout beats)")
    predictions: list[RecordBeat]
    summary: Summary
    signal: DisplaySignal | None = Field(None, description="uploads only: the lead to draw, resampled")
    note: str | None = Field(None, description="why no beat was classified, when none was")
    warnings: list[str] = Field([], description="what to know before trusting these predictions (a recording "
                                                "the model was trained on)")


def _errors(*statuses: int) -> dict[int, dict]:
    what = {400: "an empty body, or one that is not JSON (or not a readable multipart upload)",
            413: f"a body over {MAX_BODY_BYTES:,} bytes (an upload's: its own limit), or an uploaded file of over "
                 f"{MAX_SIGNAL_SAMPLES:,} samples",
            415: "a body of the other endpoint's type: JSON goes to /predict/record, uploads to /predict/upload",
            422: f"well-formed, but its values are not what the endpoint takes (the error says which): over "
                 f"{MAX_BEATS:,} beats or {MAX_SIGNAL_SAMPLES:,} samples, values beyond ±{MAX_ABS_VALUE:g}, a file "
                 "that cannot be read as a recording, ..."}
    return {s: {"model": ErrorBody, "description": what[s]} for s in statuses}


POST_ERRORS = _errors(400, 413, 422)
UNSUPPORTED = _errors(415)
NUMBER = {"type": "number", "minimum": -MAX_ABS_VALUE, "maximum": MAX_ABS_VALUE}


def beats_schema(length: int) -> dict:
    return {"type": "object", "required": ["beats"], "properties": {"beats": {
        "type": "array", "minItems": 1, "maxItems": MAX_BEATS, "description": f"beats of {length} samples each",
        "items": {"type": "array", "items": NUMBER, "minItems": length, "maxItems": length}}}}


RECORD_SCHEMA = {"type": "object", "required": ["signal", "fs"], "properties": {
    "signal": {"type": "array", "items": NUMBER, "minItems": 1, "maxItems": MAX_SIGNAL_SAMPLES,
               "description": "one lead; beats are found by XQRS in a signal of 2 s or more"},
    "fs": {"type": "number", "minimum": MIN_FS, "maximum": MAX_FS, "description": "sampling rate in Hz"}}}
UPLOAD_SCHEMA = {"type": "object", "required": ["files"], "properties": {
    "files": {"type": "array", "items": {"type": "string", "format": "binary"}, "minItems": 1, "maxItems": 3,
              "description": "one CSV (a one-column raw signal, or Kaggle-layout beats of 187 samples with or "
                             "without their class), or a WFDB record's .hea and .dat with an optional .atr"},
    "fs": {"type": "number", "minimum": MIN_FS, "maximum": MAX_FS,
           "description": "sampling rate in Hz of a one-column CSV"}}}

ModelCard = dict[str, Any]  # the bundle's metadata (bundle.json), as /model returns it
