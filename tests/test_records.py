"""Finding, downloading and verifying records: loopback HTTP server, bad files."""
import functools
import http.server
import socket
import threading

import pytest

from benchmark.errors import DataError
from benchmark.data.records import locate_records, verify_records
from tests.conftest import write_database


@pytest.fixture
def served_db(tmp_path):
    """A loopback HTTP server serving tiny records as PhysioNet lays them out."""
    root = write_database(tmp_path / "server")
    handler = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_download_verifies_and_places_every_file(served_db, tmp_path, monkeypatch, messages):
    root, url = served_db
    monkeypatch.setenv("MITDB_URL", url)
    target = tmp_path / "data" / "mitdb"
    source = locate_records(None, cache_dir=tmp_path / "data")  # the cache is the download target
    assert source.records == ("100", "101", "102")
    assert source.origin == "cache, downloaded"
    assert source.verified_against == "PHYSIONET_SHA256SUMS.txt"
    for name in ("100.hea", "100.dat", "100.atr", "102.dat"):
        assert (target / name).read_bytes() == (root / name).read_bytes()
    assert not (tmp_path / "data" / "mitdb.download").exists()
    assert any("downloading 9 mitdb files" in m for m in messages)
    # second call finds the records and downloads nothing
    again = locate_records(target)
    assert again.origin == "--data-dir" and again.file_hashes == source.file_hashes


@pytest.mark.parametrize("make", ["missing", "empty", "file"])
def test_a_named_directory_without_records_is_an_error_naming_it(tmp_path, make, monkeypatch):
    monkeypatch.setenv("MITDB_URL", "http://127.0.0.1:9/")  # never reached
    target = tmp_path / "copy"
    if make == "empty":
        target.mkdir()
    elif make == "file":
        target.write_text("not a folder")
    problem = {"missing": "no such directory", "empty": r"holds no records \(no \.hea files\)", "file": "not a directory"}[make]
    with pytest.raises(DataError, match=rf"{target}: {problem}; --data-dir names a local copy"):
        locate_records(target, cache_dir=tmp_path / "cache")
    monkeypatch.setenv("MITDB_DIR", str(target))
    with pytest.raises(DataError, match=rf"{target}: {problem}; MITDB_DIR names a local copy"):
        locate_records(None, cache_dir=tmp_path / "cache")
    left = sorted(p.name for p in tmp_path.iterdir())  # nothing made: no <dir>.download, no cache
    assert left == ([] if make == "missing" else ["copy"]), left


def test_refresh_downloads_into_a_named_directory(served_db, tmp_path, monkeypatch):
    monkeypatch.setenv("MITDB_URL", served_db[1])
    source = locate_records(tmp_path / "mine", refresh=True)
    assert source.origin == "--data-dir, downloaded" and source.records == ("100", "101", "102")


def test_corrupt_download_is_never_used(served_db, tmp_path, monkeypatch):
    root, url = served_db
    (root / "101.dat").write_bytes(b"\0" * 100)  # no longer matches the manifest
    monkeypatch.setenv("MITDB_URL", url)
    target = tmp_path / "mitdb"
    with pytest.raises(DataError, match=r"101\.dat: checksum mismatch after download"):
        locate_records(None, cache_dir=tmp_path)
    assert not list(target.glob("*.hea")) if target.exists() else True


def test_offline_download_says_how_to_supply_a_local_copy(tmp_path, monkeypatch):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("MITDB_URL", f"http://127.0.0.1:{port}/")
    with pytest.raises(DataError, match="--data-dir DIR or MITDB_DIR"):
        locate_records(None, cache_dir=tmp_path)


def test_environment_variable_names_the_directory(tiny_db, monkeypatch):
    monkeypatch.setenv("MITDB_DIR", str(tiny_db))
    source = locate_records(None)
    assert source.directory == tiny_db and source.origin == "MITDB_DIR"


@pytest.mark.parametrize("name", ["101.hea", "101.dat", "101.atr"])
def test_missing_file_is_named(tiny_db, name):
    (tiny_db / name).unlink()
    with pytest.raises(DataError, match=rf"{name}: missing file of record 101"):
        verify_records(tiny_db)


def test_manifest_mismatch_is_named(tiny_db):
    data = (tiny_db / "100.atr").read_bytes()
    (tiny_db / "100.atr").write_bytes(data[:-4])
    with pytest.raises(DataError, match=r"100\.atr: checksum mismatch with SHA256SUMS\.txt"):
        verify_records(tiny_db)
