"""Find, download and verify raw PhysioNet records: ``mitdb`` (the benchmark's data), and ``svdb`` and
``nstdb`` (an external test set and noise-stress records).

Where a database's records come from, in order: the directory given (``--data-dir`` for mitdb), the
``<NAME>_DIR`` environment variable (``MITDB_DIR``, ``SVDB_DIR``, ``NSTDB_DIR``), or a per-user cache
directory. When that directory holds none of the records, they are downloaded from PhysioNet
(``<NAME>_URL`` overrides the address, which is how the tests serve tiny records from a loopback
server). Every downloaded file is checked against PhysioNet's ``SHA256SUMS.txt`` in a staging folder
and only moved into place once all of them match, so a partial download is never used.
"""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from benchmark.errors import DataError
from benchmark.logs import progress

log = logging.getLogger(__name__)

MANIFEST = "SHA256SUMS.txt"  # PhysioNet's name for its manifest
LOCAL_MANIFESTS = ("PHYSIONET_SHA256SUMS.txt", MANIFEST)  # names a local copy may keep it under
RECORD_SUFFIXES = (".hea", ".dat", ".atr")
# The 48 records; used when a directory has no RECORDS file.
MITDB_RECORDS = tuple(
    [str(r) for r in range(100, 125) if r not in (110, 120)]
    + [str(r) for r in (200, 201, 202, 203, 205, 207, 208, 209, 210, 212, 213, 214, 215, 217, 219,
                        220, 221, 222, 223, 228, 230, 231, 232, 233, 234)]
)


@dataclass(frozen=True)
class Database:
    """A PhysioNet database the benchmark reads, and which of its records it uses."""

    name: str  # PhysioNet's short name; also the cache folder and the environment variables' prefix
    title: str
    url: str
    fallback_records: tuple[str, ...] = ()  # when a directory has no RECORDS file
    uses: Callable[[str], bool] | None = None  # which records of RECORDS hold annotated ECG

    @property
    def dir_variable(self) -> str:
        return f"{self.name.upper()}_DIR"

    @property
    def url_variable(self) -> str:
        return f"{self.name.upper()}_URL"


def _noisy_ecg(record: str) -> bool:
    """nstdb's annotated records (118e24 …, 119e_6); bw, em and ma are noise alone, with no beats."""
    return record.startswith(("118e", "119e"))


MITDB = Database("mitdb", "MIT-BIH Arrhythmia Database", "https://physionet.org/files/mitdb/1.0.0/", MITDB_RECORDS)
SVDB = Database("svdb", "MIT-BIH Supraventricular Arrhythmia Database", "https://physionet.org/files/svdb/1.0.0/")
NSTDB = Database("nstdb", "MIT-BIH Noise Stress Test Database", "https://physionet.org/files/nstdb/1.0.0/",
                 uses=_noisy_ecg)
DATABASES = {db.name: db for db in (MITDB, SVDB, NSTDB)}


@dataclass(frozen=True)
class RecordSource:
    """A verified directory of records and how it was found."""

    directory: Path
    records: tuple[str, ...]
    file_hashes: dict  # file name -> sha256 of every file the beat build reads
    origin: str  # "--data-dir", "MITDB_DIR", "cache" (and ", downloaded" when fetched now)
    verified_against: str | None  # manifest the hashes were checked against, if any
    database: str = "mitdb"

    def describe(self) -> str:
        check = f"checked against {self.verified_against}" if self.verified_against else "no manifest to check against"
        return f"{len(self.records)} {self.database} records in {self.directory} (from {self.origin}; {check})"


def default_cache_dir() -> Path:
    """Per-user cache: ``$ECG_BENCH_CACHE``, else ``$XDG_CACHE_HOME/ecg-oversampling-bench``."""
    if os.environ.get("ECG_BENCH_CACHE"):
        return Path(os.environ["ECG_BENCH_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "ecg-oversampling-bench"


# records of one person (PhysioNet's mitdb description): a test over records as patients must say so
SAME_PERSON = (("201", "202"),)


def patients_words(records) -> str:
    """``records`` counted as records and as people: "48 test records (47 patients: 201 and 202 are one
    person)", or "22 test records (patients)" where every record is its own person."""
    records = {str(r) for r in records}
    shared = [pair for pair in SAME_PERSON if set(pair) <= records]
    if not shared:
        return f"{len(records)} test records (patients)"
    people = len(records) - sum(len(p) - 1 for p in shared)
    return (f"{len(records)} test records ({people} patients: "
            + "; ".join(f"{' and '.join(p)} are one person, resampled as {len(p)} records" for p in shared) + ")")


def resolve_data_dir(data_dir: str | os.PathLike | None, cache_dir: Path | None = None,
                     db: Database = MITDB) -> tuple[Path, str]:
    if data_dir is not None:
        return Path(data_dir).expanduser(), "--data-dir" if db is MITDB else f"--{db.name}-dir"
    if os.environ.get(db.dir_variable):
        return Path(os.environ[db.dir_variable]).expanduser(), db.dir_variable
    return (cache_dir or default_cache_dir()) / db.name, "cache"


def locate_records(data_dir=None, cache_dir: Path | None = None, refresh: bool = False,
                   database: "str | Database" = "mitdb") -> RecordSource:
    """Return the verified record directory, downloading the records first where they are missing;
    ``database``: a known database's name, or a :class:`Database` (an external test set's own)."""
    db = database if isinstance(database, Database) else DATABASES[database]
    directory, origin = resolve_data_dir(data_dir, cache_dir, db)
    found = _has_any_record(directory)
    if origin != "cache" and not refresh and not found:
        # a folder the user named is their local copy, never a download target: downloads go to the cache
        problem = "no such directory" if not directory.exists() else \
            "not a directory" if not directory.is_dir() else "holds no records (no .hea files)"
        raise DataError(f"{directory}: {problem}; {origin} names a local copy of PhysioNet's {db.name}. Give the "
                        f"folder that holds its .hea/.dat/.atr files, or leave {origin} out to download the records "
                        f"into the cache (--cache-dir), or add --refresh to download them into {directory}")
    if refresh or not found:
        download(directory, db)
        origin += ", downloaded"
    return verify_records(directory, origin, db)


def _has_any_record(directory: Path) -> bool:
    return directory.is_dir() and any(directory.glob("*.hea"))


def read_manifest(path: Path) -> dict[str, str]:
    """Parse a ``sha256sum`` manifest into {file name: hex digest}."""
    hashes = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2 or len(parts[0]) != 64:
            raise DataError(f"{path}:{n}: not a sha256sum line: {line!r}")
        hashes[parts[1].lstrip("*").strip()] = parts[0].lower()
    return hashes


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def record_list(directory: Path, db: Database = MITDB) -> tuple[str, ...]:
    """The records of ``directory`` the benchmark uses: its RECORDS file (filtered), else the known list."""
    records_file = directory / "RECORDS"
    if records_file.exists():
        names = tuple(line.strip() for line in records_file.read_text().splitlines() if line.strip())
        names = tuple(n for n in names if db.uses is None or db.uses(n))
        if not names:
            raise DataError(f"{records_file}: no {db.name} records listed")
        return names
    if not db.fallback_records:
        raise DataError(f"{records_file}: missing; a copy of PhysioNet's {db.name} has one")
    return db.fallback_records


def verify_records(directory: Path, origin: str = "--data-dir", db: Database = MITDB) -> RecordSource:
    """Check that every record's .hea/.dat/.atr is present and, where a manifest exists, intact."""
    if not directory.is_dir():
        where = "--data-dir or MITDB_DIR" if db is MITDB else db.dir_variable
        raise DataError(f"{directory}: not a directory; point {where} at a copy of PhysioNet's {db.name}, or "
                        f"leave it unset to download it")
    records = record_list(directory, db)
    manifest_path = next((directory / m for m in LOCAL_MANIFESTS if (directory / m).exists()), None)
    manifest = read_manifest(manifest_path) if manifest_path else {}
    hashes = {}
    for record in records:
        for suffix in RECORD_SUFFIXES:
            name = record + suffix
            path = directory / name
            if not path.exists():
                raise DataError(f"{path}: missing file of record {record}; restore it, or re-download "
                                f"the records with --refresh")
            if path.stat().st_size == 0:
                raise DataError(f"{path}: empty file; re-download the records with --refresh")
            hashes[name] = sha256_file(path)
            if name in manifest and manifest[name] != hashes[name]:
                raise DataError(f"{path}: checksum mismatch with {manifest_path.name} (file is corrupt or "
                                f"truncated); re-download the records with --refresh")
    return RecordSource(directory, records, hashes, origin,
                        manifest_path.name if manifest_path else None, db.name)


def _fetch(url: str, dest: Path, timeout: float = 60.0) -> None:
    tmp = dest.with_name(dest.name + ".part")
    with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as out:
        shutil.copyfileobj(response, out, 1 << 20)
    os.replace(tmp, dest)


def download(directory: Path, db: Database = MITDB, base_url: str | None = None) -> None:
    """Download the records into ``directory`` through a staging folder, verifying every file."""
    base_url = base_url or os.environ.get(db.url_variable) or db.url
    if not base_url.endswith("/"):
        base_url += "/"
    where = "--data-dir DIR or MITDB_DIR=DIR" if db is MITDB else f"{db.dir_variable}=DIR"
    staging = directory.parent / (directory.name + ".download")
    try:
        staging.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{staging}: cannot create download directory ({exc.strerror}); choose a writable "
                        f"place with --data-dir or --cache-dir") from exc
    try:
        _fetch(base_url + MANIFEST, staging / MANIFEST)
        _fetch(base_url + "RECORDS", staging / "RECORDS")
    except (urllib.error.URLError, OSError) as exc:
        raise DataError(
            f"could not download {db.name} from {base_url} ({getattr(exc, 'reason', exc)}). Without internet "
            f"access, supply a local copy of PhysioNet's {db.name} 1.0.0 with {where}"
        ) from exc
    manifest = read_manifest(staging / MANIFEST)
    records = record_list(staging, db)
    names = [r + s for r in records for s in RECORD_SUFFIXES]
    log.info("downloading %d %s files from %s into %s", len(names), db.name, base_url, directory)
    total = 0
    for i, name in enumerate(progress(names, desc=db.name, unit="file"), 1):
        dest = staging / name
        expected = manifest.get(name)
        if expected is None:
            raise DataError(f"{base_url}{MANIFEST}: no checksum listed for {name}")
        if not (dest.exists() and sha256_file(dest) == expected):  # resume: keep verified files
            try:
                _fetch(base_url + name, dest)
            except (urllib.error.URLError, OSError) as exc:
                raise DataError(f"{base_url}{name}: download failed ({getattr(exc, 'reason', exc)}); "
                                f"rerun to resume, or supply a local copy with {where}") from exc
            if sha256_file(dest) != expected:
                dest.unlink()
                raise DataError(f"{base_url}{name}: checksum mismatch after download; rerun to retry")
        total += dest.stat().st_size
        if i % 12 == 0 or i == len(names):
            log.info("  %d/%d files, %.1f MB", i, len(names), total / 1e6)
    directory.mkdir(parents=True, exist_ok=True)
    for name in names + ["RECORDS"]:
        os.replace(staging / name, directory / name)
    # The manifest goes last: its presence says the directory is complete and verified.
    os.replace(staging / MANIFEST, directory / LOCAL_MANIFESTS[0])
    shutil.rmtree(staging, ignore_errors=True)
