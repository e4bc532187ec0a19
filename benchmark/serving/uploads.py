"""A recording uploaded to ``POST /predict/record`` as multipart/form-data: one CSV (a one-column raw signal,
with the form field ``fs``, or Kaggle-layout beats) or a WFDB record's files (``.hea`` and ``.dat``, optional
``.atr``). The files are checked for what can go wrong with an upload (size, count, names, a header that
promises what its ``.dat`` does not hold) before they are written to a temporary folder and read as the
command line reads files (``benchmark.serving.inputs.read_input``), so both build the same beats.
"""
from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np

from benchmark.data.beats import BuildParams
from benchmark.errors import DataError
from benchmark.serving.inputs import MAX_SIGNAL_SAMPLES

MAX_UPLOAD_BYTES = 32 * 2 ** 20  # a 30-minute two-lead mitdb record is 1.9 MB of .dat; a raw CSV about 7 MB
MAX_UPLOAD_FILES = 3  # .hea, .dat, .atr
MAX_HEADER_BYTES = 64 * 2 ** 10  # a header is a few lines
MAX_DISPLAY_POINTS = 600_000  # of the signal returned to draw: 80 minutes at 125 Hz
SIGNAL_EXTENSIONS = (".csv", ".hea", ".dat", ".atr")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


class UploadError(Exception):
    """What is wrong with an upload; ``status`` is its HTTP status."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass
class Upload:
    files: dict[str, bytes]  # by file name (no folders), in the order sent
    fs: str | None  # the form field, as sent


async def read_upload(request, limit: int | None = None) -> Upload:
    """The files and the ``fs`` field of a multipart/form-data request, refused past ``limit`` bytes
    (default ``MAX_UPLOAD_BYTES``) before it is all read, or past ``MAX_UPLOAD_FILES`` files."""
    from starlette.datastructures import UploadFile
    from starlette.formparsers import MultiPartException, MultiPartParser

    limit = limit or MAX_UPLOAD_BYTES
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise UploadError(413, f"upload of {int(declared)} bytes; at most {limit}")

    async def limited():
        seen = 0
        async for chunk in request.stream():
            seen += len(chunk)
            if seen > limit:
                raise UploadError(413, f"upload over {limit} bytes")
            yield chunk

    parser = MultiPartParser(request.headers, limited(), max_files=MAX_UPLOAD_FILES, max_fields=4,
                             max_part_size=1024)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise UploadError(400, f"not a readable multipart/form-data upload: {exc.message} (send one CSV, or a "
                               "WFDB record's .hea and .dat and optionally its .atr)") from None
    try:
        files, fs = {}, None
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                name = _file_name(value.filename)
                if name in files:
                    raise UploadError(422, f"{name}: sent twice")
                files[name] = await value.read()
            elif key == "fs":
                fs = value.strip() or None
            else:
                raise UploadError(422, f"unknown form field {key!r}: send the files, and fs=HZ for a one-column CSV")
    finally:
        await form.close()
    return Upload(files, fs)


def _file_name(sent: str | None) -> str:
    """The file's own name (a browser sends no folders, other clients may), checked to be a plain name."""
    name = PureWindowsPath(PurePosixPath(sent or "").name).name
    if not _NAME.match(name):
        raise UploadError(422, f"file name {sent!r}: use a plain name of letters, digits, '_', '-' and '.', "
                               "such as 100.hea")
    if Path(name).suffix not in SIGNAL_EXTENSIONS:  # WFDB reads 100.hea, never 100.HEA: the case matters
        raise UploadError(422, f"{name}: unknown file type; send one .csv, or a WFDB record's .hea and .dat "
                               "(and .atr), their extensions in lower case")
    return name


def upload_beats(upload: Upload, params: BuildParams = BuildParams()):
    """The beats of an upload (``benchmark.serving.inputs.Beats``), or an ``UploadError`` saying what is wrong."""
    from benchmark.serving.inputs import read_input

    kinds = {}
    for name in upload.files:
        kinds.setdefault(Path(name).suffix, []).append(name)
    if not upload.files:
        raise UploadError(422, "no file in the upload; send one CSV, or a WFDB record's .hea and .dat (and .atr)")
    if ".csv" in kinds:
        if len(upload.files) > 1:
            raise UploadError(422, f"{', '.join(upload.files)}: a CSV comes alone (one file per upload)")
        fs = _fs(upload.fs)
        target = kinds[".csv"][0]
        lines = upload.files[target].count(b"\n")
        if lines > MAX_SIGNAL_SAMPLES:
            raise UploadError(413, f"{target}: {lines} lines; at most {MAX_SIGNAL_SAMPLES} samples (or beats) per call")
    else:
        if upload.fs is not None:
            raise UploadError(422, "fs is for a one-column CSV; a WFDB record's header says its own sampling rate")
        target = _record_name(kinds)
        fs = None
    with tempfile.TemporaryDirectory(prefix="ecg-upload-") as tmp:
        folder = Path(tmp)
        for name, data in upload.files.items():
            (folder / name).write_bytes(data)
        try:
            if ".csv" not in kinds:
                _check_header(folder / target, params)
            beats = read_input(folder / target, fs, params)
        except DataError as exc:
            raise UploadError(422, _as_uploaded(str(exc), folder)) from None
    beats.source = _as_uploaded(beats.source, folder)
    return beats


def _fs(text: str | None) -> float | None:
    from benchmark.serving.inputs import check_fs

    if text is None:
        return None
    try:
        return check_fs(text)
    except DataError as exc:
        raise UploadError(422, f"fs: {exc}") from None


def _record_name(kinds: dict[str, list[str]]) -> str:
    """The record the .hea, .dat and .atr files make (named by their common stem)."""
    for suffix in (".hea", ".dat", ".atr"):
        if len(kinds.get(suffix, [])) > 1:
            raise UploadError(422, f"{', '.join(kinds[suffix])}: one record at a time (one {suffix} file)")
    stems = {Path(names[0]).stem for names in kinds.values()}
    if len(stems) > 1:
        raise UploadError(422, f"{', '.join(n for names in kinds.values() for n in names)}: the files of one "
                               "record share its name (100.hea, 100.dat, 100.atr)")
    stem = stems.pop()
    for suffix in (".hea", ".dat"):
        if suffix not in kinds:
            raise UploadError(422, f"{stem}{suffix}: missing; a WFDB record needs its .hea and .dat "
                                   "(and optionally its .atr)")
    return stem


def _check_header(path: Path, params: BuildParams) -> None:
    """What a header promises, checked before wfdb reads the signal: one .dat of this record, a format read
    here, at most ``MAX_SIGNAL_SAMPLES`` per lead (so a lying header cannot make the server allocate
    gigabytes), the lead the beats are built from, a plausible sampling rate."""
    import wfdb

    from benchmark.data.beats import DAT_BITS
    from benchmark.serving.inputs import check_fs

    hea = Path(f"{path}.hea")
    if hea.stat().st_size > MAX_HEADER_BYTES:
        raise DataError(f"{hea}: {hea.stat().st_size} bytes, not a header (at most {MAX_HEADER_BYTES})")
    try:
        header = wfdb.rdheader(str(path))
    except Exception as exc:
        raise DataError(f"{hea}: unreadable header ({type(exc).__name__}: {str(exc)[:200]})") from None
    n_sig = int(header.n_sig or 0)
    if n_sig < 1 or not header.file_name:
        raise DataError(f"{hea}: the header names no signal")
    if params.channel >= n_sig:
        raise DataError(f"{hea}: {n_sig} signal(s); beats are built from signal {params.channel + 1}")
    files = sorted(set(header.file_name))
    if files != [f"{path.name}.dat"]:
        raise DataError(f"{hea}: the header's signals are in {', '.join(files)}; upload one record whose signals "
                        f"are all in {path.name}.dat")
    formats = sorted({str(f) for f in header.fmt})
    if len(formats) != 1 or formats[0] not in DAT_BITS:
        raise DataError(f"{hea}: signal format {', '.join(formats)}; formats read here: {', '.join(DAT_BITS)}")
    check_fs(header.fs)
    bits = DAT_BITS[formats[0]]
    samples = header.sig_len or (Path(f"{path}.dat").stat().st_size * 8 // (bits * n_sig))
    if samples > MAX_SIGNAL_SAMPLES:
        raise DataError(f"{hea}: {samples} samples per signal; at most {MAX_SIGNAL_SAMPLES} per call")


def _as_uploaded(message: str, folder: Path) -> str:
    """A reading error as the uploader sees it: their file names, not the temporary folder's, and the
    remedies of an upload rather than of the command line."""
    return (message.replace(f"{folder}/", "").replace(str(folder), "upload")
            .replace("re-download with --refresh", "upload the complete file")
            .replace("give --fs HZ", "send the form field fs=HZ")
            .replace("a raw signal with --fs", "a raw signal with the form field fs"))


def display_signal(beats, params: BuildParams = BuildParams()) -> dict | None:
    """The lead to draw: resampled to the rate the model's beats are built at (125 Hz; less for long records,
    at most ``MAX_DISPLAY_POINTS`` points), so a 10-s strip is 1,250 points and the page parses no WFDB."""
    from scipy.signal import resample_poly

    if beats.signal is None:
        return None
    n, fs = len(beats.signal), float(beats.fs)
    rate = min(float(params.target_fs), fs, MAX_DISPLAY_POINTS * fs / max(n, 1))
    ratio = Fraction(rate / fs).limit_denominator(1000)
    values = beats.signal if ratio == 1 else resample_poly(beats.signal, ratio.numerator, ratio.denominator)
    return {"fs": fs * ratio.numerator / ratio.denominator, "recording_fs": fs, "seconds": n / fs,
            "values": np.round(np.asarray(values, dtype=np.float64), 4).tolist()}
