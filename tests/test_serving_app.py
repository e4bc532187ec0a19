"""The HTTP API over a bundle: predictions match the bundle's, every bad input is a 4xx JSON error that
says what is wrong, and the server keeps answering after any of them."""
import json

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
from fastapi.testclient import TestClient  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from benchmark.serving import app as api  # noqa: E402
from benchmark.serving.bundle import export_bundle, load_bundle  # noqa: E402
from tests.test_serving import GRID, MLP_RUN  # noqa: E402


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("bundle")
    export_bundle(GRID, MLP_RUN, out)
    return load_bundle(out)


@pytest.fixture(scope="module")
def client(bundle):
    return TestClient(api.create_app(bundle))


def beats(n, seed=0):
    return np.random.default_rng(seed).random((n, 187)).round(4).tolist()


def test_predict_returns_the_bundles_classes_and_probabilities(client, bundle):
    x = beats(5)
    response = client.post("/predict", json={"beats": x})
    assert response.status_code == 200
    predictions = response.json()["predictions"]
    expected = bundle.predict_proba(np.array(x, np.float32))
    assert [p["class"] for p in predictions] == [bundle.classes[i] for i in expected.argmax(axis=1)]
    for p, e in zip(predictions, expected):
        assert list(p["probabilities"]) == list(bundle.classes)
        np.testing.assert_allclose(list(p["probabilities"].values()), e, rtol=1e-5, atol=1e-6)


def test_model_health_and_openapi(client, bundle):
    assert client.get("/health").json() == {"status": "ok", "model": MLP_RUN, "runtime": "keras"}
    assert client.get("/model").json() == {**bundle.metadata, "model_card_text": bundle.card}
    schema = client.get("/openapi.json").json()
    assert {"/predict", "/predict/record", "/model", "/health"} <= set(schema["paths"])


def test_predict_record_finds_the_beats_of_a_signal(client, tmp_path):
    import wfdb

    from tests.conftest import write_record

    write_record(tmp_path, "300", n_beats=30)
    signal = wfdb.rdrecord(str(tmp_path / "300"), channels=[0]).p_signal[:, 0]
    response = client.post("/predict/record", json={"signal": signal.round(4).tolist(), "fs": 360})
    assert response.status_code == 200, response.text
    body = response.json()
    assert 25 <= body["summary"]["beats"] == len(body["predictions"])
    samples = [p["sample"] for p in body["predictions"]]
    assert samples == sorted(samples) and np.all(np.diff(samples) > 200)  # one beat per 270-sample cycle


@pytest.mark.parametrize("body, status, says", [
    ({"beats": [[0.5] * 100]}, 422, "187 samples"),
    ({"beats": [[0.5] * 186 + [float("nan")]]}, 422, "NaN or infinite"),
    ({"beats": [[0.5] * 186 + ["x"]]}, 422, "not numbers"),
    ({"beats": [[0.5] * 186 + [True]]}, 422, "not numbers"),
    ({"beats": [[0.5] * 187, [0.5] * 3]}, 422, "same length"),
    ({"beats": []}, 422, "non-empty"),
    ({"beat": []}, 422, '{"beats"'),
    ({"beats": [[0.5] * 187] * (api.MAX_BEATS + 1)}, 422, "at most"),
    ({"beats": [[0.5] * 186 + [2e6]]}, 422, "beyond"),
])
def test_bad_beats_are_named(client, body, status, says):
    response = client.post("/predict", content=json.dumps(body))
    assert response.status_code == status and says in response.json()["error"]


@pytest.mark.parametrize("content, status, says", [
    (b"", 400, "empty body"), (b"{not json", 400, "not valid JSON"), (b"\xff\xfe", 400, "not valid JSON"),
])
def test_bodies_that_are_not_json(client, content, status, says):
    response = client.post("/predict", content=content)
    assert response.status_code == status and says in response.json()["error"]


def test_a_body_over_the_limit_is_refused(client, monkeypatch):
    monkeypatch.setattr(api, "MAX_BODY_BYTES", 1000)
    response = client.post("/predict", content=b"[" + b"0," * 1000 + b"0]")
    assert response.status_code == 413 and "at most" in response.json()["error"]


@pytest.mark.parametrize("body, says", [
    ({"signal": [0.0] * 5000, "fs": 0}, "outside"), ({"signal": [0.0] * 5000, "fs": "fast"}, "number of Hz"),
    ({"signal": [0.0] * 5000, "fs": float("inf")}, "outside"), ({"signal": [1e7] * 5000, "fs": 360}, "beyond"),
    ({"signal": [[0.0]] * 5000, "fs": 360}, "flat list"), ({"signal": [0.0] * 5000}, '"fs"'),
])
def test_bad_records_are_named(client, body, says):
    response = client.post("/predict/record", content=json.dumps(body))
    assert response.status_code == 422 and says in response.json()["error"], response.text


@pytest.mark.parametrize("signal, says", [([0.0] * 100, "too short"), ([0.0] * 5000, "no usable beats")])
def test_a_valid_recording_without_beats_is_answered_with_none_and_why(client, signal, says):
    """A schema-valid request is accepted (schemathesis found {"fs": 0.0, "signal": []} refused when the schema
    allowed it): a recording too short, or flat, gets no beats and a note, not an error."""
    response = client.post("/predict/record", json={"signal": signal, "fs": 360})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["predictions"] == [] and answer["summary"]["beats"] == 0 and says in answer["note"]


def test_the_schema_states_the_bounds_the_code_enforces(client):
    schema = client.get("/openapi.json").json()
    record = schema["paths"]["/predict/record"]["post"]
    body = record["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert (body["fs"]["minimum"], body["fs"]["maximum"]) == (50.0, 10_000.0)  # {"fs": 0.0, ...} was schema-valid
    assert body["signal"]["minItems"] == 1 and body["signal"]["items"]["maximum"] == api.MAX_ABS_VALUE
    beats = schema["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert beats["properties"]["beats"]["maxItems"] == api.MAX_BEATS
    for path in ("/predict", "/predict/record", "/predict/upload"):  # every status code it can answer
        assert {"200", "400", "413", "422"} <= set(schema["paths"][path]["post"]["responses"])
    assert "415" in schema["paths"]["/predict/upload"]["post"]["responses"]
    assert schema["paths"]["/health"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]


@pytest.mark.parametrize("path", ["/health", "/model"])
def test_a_method_not_allowed_says_which_are(client, path):
    response = client.request("TRACE", path)  # RFC 9110: a 405 carries Allow
    assert response.status_code == 405 and response.headers["allow"] == "GET"


def test_json_and_uploads_go_to_their_own_endpoints(client):
    response = client.post("/predict/upload", json={"signal": [0.0] * 1000, "fs": 360})
    assert response.status_code == 415 and "/predict/record" in response.json()["error"]
    response = client.post("/predict/record", files=[("files", ("a.csv", b"0\n" * 1000))])
    assert response.status_code == 415 and "/predict/upload" in response.json()["error"]


def test_answers_are_the_same_with_json_as_with_orjson(client, monkeypatch):
    """orjson, where installed, only reads and writes faster: the same bodies get the same answers."""
    bodies = [json.dumps({"beats": beats(3)}), json.dumps({"beats": [[0.5] * 186 + [float("nan")]]}),
              json.dumps({"beats": [[0.5] * 186 + [True]]}), json.dumps({"beats": [[0.5] * 186 + [2 ** 70]]}),
              '{"beats": [[0.5]], "note": "true"}']
    answers = [(r.status_code, r.json()) for r in (client.post("/predict", content=b) for b in bodies)]
    monkeypatch.setattr(api, "orjson", None)
    assert [(r.status_code, r.json()) for r in (client.post("/predict", content=b) for b in bodies)] == answers
    assert [status for status, _ in answers] == [200, 422, 422, 422, 422]  # 2 ** 70: beyond the values' bound


def test_unknown_paths_and_methods_are_json_errors(client):
    assert client.get("/nope").status_code == 404 and "error" in client.get("/nope").json()
    assert client.get("/predict").status_code == 405


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=30)
malformed = st.one_of(
    json_values,
    st.fixed_dictionaries({"beats": json_values}),
    st.fixed_dictionaries({"beats": st.lists(st.lists(st.floats(), min_size=186, max_size=186) | json_values,
                                             min_size=1, max_size=3)}),
    st.fixed_dictionaries({"signal": json_values, "fs": json_values}),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=malformed, path=st.sampled_from(["/predict", "/predict/record"]), raw=st.binary(max_size=40))
def test_malformed_bodies_get_a_4xx_and_the_server_keeps_serving(client, body, path, raw):
    for content in (json.dumps(body, allow_nan=True).encode(), raw):
        response = client.post(path, content=content)
        if response.status_code == 200:  # hypothesis may draw a valid body: then it must be a real answer
            assert "predictions" in response.json()
        else:
            assert 400 <= response.status_code < 500, (content[:200], response.text)
            assert isinstance(response.json()["error"], str)
    assert client.get("/health").status_code == 200


# --- uploads: POST /predict/upload, multipart/form-data ---------------------------------------------------

@pytest.fixture(scope="module")
def record_files(tmp_path_factory) -> dict[str, bytes]:
    """The files of a tiny annotated record, 300 (30 beats at 360 Hz), by name."""
    from tests.conftest import write_record

    folder = tmp_path_factory.mktemp("record")
    write_record(folder, "300", n_beats=30)
    return {f"300{s}": (folder / f"300{s}").read_bytes() for s in (".hea", ".dat", ".atr")}


def post_files(client, files: dict[str, bytes], fs=None):
    return client.post("/predict/upload", files=[("files", (name, data)) for name, data in files.items()],
                       data=None if fs is None else {"fs": fs})


def test_an_uploaded_record_is_classified_as_the_command_line_classifies_it(client, bundle, record_files, tmp_path):
    from benchmark.serving.inputs import read_input
    from benchmark.serving.predict import classify

    for name, data in record_files.items():
        (tmp_path / name).write_bytes(data)
    for files, source in ((record_files, "300 (beats at its reference annotations)"),
                          ({k: v for k, v in record_files.items() if not k.endswith(".atr")}, "300 (R peaks by XQRS)")):
        response = post_files(client, files)
        assert response.status_code == 200, response.text
        body = response.json()
        if not any(k.endswith(".atr") for k in files):
            (tmp_path / "300.atr").unlink()
        expected = classify(bundle, read_input(tmp_path / "300"))
        assert body["source"] == source and body["fs"] == 360
        assert body["predictions"] == expected["rows"] and body["summary"] == expected["summary"]
        signal = body["signal"]  # the lead to draw, at the beats' 125 Hz
        assert signal["fs"] == 125 and signal["recording_fs"] == 360
        assert abs(len(signal["values"]) - signal["seconds"] * 125) <= 1
        peak = int(round(body["predictions"][3]["sample"] / 360 * 125))  # the R peak is the strip's maximum there
        window = signal["values"][peak - 10:peak + 11]
        assert abs(int(np.argmax(window)) - 10) <= 1
    assert "agreeing_with_given_class" in post_files(client, record_files).json()["summary"]


def test_an_uploaded_csv_raw_signal_needs_fs_and_kaggle_beats_have_no_positions(client, bundle, record_files,
                                                                                 tmp_path):
    import wfdb

    from tests.conftest import clustered_beats

    for name, data in record_files.items():
        (tmp_path / name).write_bytes(data)
    signal = wfdb.rdrecord(str(tmp_path / "300"), channels=[0]).p_signal[:, 0]
    lead = "\n".join(f"{v:.4f}" for v in signal).encode()
    refused = post_files(client, {"lead.csv": lead})
    assert refused.status_code == 422 and "form field fs" in refused.json()["error"]
    body = post_files(client, {"lead.csv": lead}, fs="360").json()
    assert body["source"] == "lead.csv (raw signal at 360 Hz; R peaks by XQRS)" and body["summary"]["beats"] >= 25
    assert body["signal"]["recording_fs"] == 360
    beats = clustered_beats((6, 2, 2, 1, 1))
    kaggle = "\n".join(",".join(f"{v:.5f}" for v in [*row, label]) for row, label in zip(beats.x, beats.y)).encode()
    body = post_files(client, {"beats.csv": kaggle}).json()
    assert body["signal"] is None and body["fs"] is None and body["summary"]["beats"] == 12
    assert [p["sample"] for p in body["predictions"]] == [None] * 12
    assert [p["given_class"] for p in body["predictions"]] == [bundle.classes[c] for c in beats.y]


def _header(record_files, old: str, new: str) -> dict[str, bytes]:
    text = record_files["300.hea"].decode()
    assert old in text
    return {**record_files, "300.hea": text.replace(old, new, 1).encode()}


@pytest.mark.parametrize("change, status, says", [
    (lambda f: {"300.hea": f["300.hea"]}, 422, "300.dat: missing"),
    (lambda f: {"300.dat": f["300.dat"], "300.atr": f["300.atr"]}, 422, "300.hea: missing"),
    (lambda f: {**f, "300.dat": f["300.dat"][:1000]}, 422, "truncated signal file"),
    (lambda f: {**f, "300.hea": b"\x00\xff garbage"}, 422, "300.hea: unreadable header"),
    (lambda f: {**f, "300.atr": b"\x01\x02\x03 not annotations"}, 422, "300.atr"),
    (lambda f: {"300.hea": f["300.hea"], "301.dat": f["300.dat"]}, 422, "share its name"),
    (lambda f: {"300.hea": f["300.hea"], "notes.txt": b"hi"}, 422, "notes.txt: unknown file type"),
    (lambda f: {"300.HEA": f["300.hea"], "300.dat": f["300.dat"]}, 422, "in lower case"),  # hypothesis found it
    (lambda f: {**f, "300.csv": b"1"}, 400, "Too many files"),
    (lambda f: {"300.csv": b"1,2", "300.hea": f["300.hea"]}, 422, "a CSV comes alone"),
    (lambda f: {"bad name.hea": f["300.hea"]}, 422, "plain name"),
    (lambda f: _header(f, "300.dat", "other.dat"), 422, "other.dat"),
    (lambda f: _header(_header(f, " 212", " 24"), " 212", " 24"), 422, "signal format 24"),
    (lambda f: _header(f, " 8470", " 90000000"), 422, "at most 2000000"),
    (lambda f: _header(f, " 360 ", " 5 "), 422, "outside 50..10000 Hz"),
    (lambda f: {"beats.csv": b"0.1,0.2,0.3\n"}, 422, "3 columns"),
])
def test_bad_uploads_are_named(client, record_files, change, status, says):
    response = post_files(client, change(record_files))
    assert response.status_code == status and says in response.json()["error"], response.text
    assert "ecg-upload-" not in response.json()["error"]  # the uploader's names, never the temporary folder's


def test_upload_fields_and_limits(client, record_files, monkeypatch):
    from benchmark.serving import uploads

    response = post_files(client, record_files, fs="360")
    assert response.status_code == 422 and "header says its own sampling rate" in response.json()["error"]
    for fs, says in (("fast", "number of Hz"), ("0", "outside"), ("nan", "outside")):
        response = post_files(client, {"lead.csv": b"0\n" * 1000}, fs=fs)
        assert response.status_code == 422 and says in response.json()["error"], response.text
    response = client.post("/predict/upload", files=[("files", ("300.hea", record_files["300.hea"]))],
                           data={"note": "x"})
    assert response.status_code == 422 and "unknown form field 'note'" in response.json()["error"]
    monkeypatch.setattr(uploads, "MAX_UPLOAD_BYTES", 10_000)
    response = post_files(client, record_files)
    assert response.status_code == 413 and "at most 10000" in response.json()["error"]
    response = client.post("/predict/upload", content=b"--x\r\n", headers={"content-type": "multipart/form-data"})
    assert response.status_code == 400 and "multipart" in response.json()["error"]
    only_fs = b'--b\r\nContent-Disposition: form-data; name="fs"\r\n\r\n360\r\n--b--\r\n'
    response = client.post("/predict/upload", content=only_fs,
                           headers={"content-type": "multipart/form-data; boundary=b"})
    assert response.status_code == 422 and "no file in the upload" in response.json()["error"]


def test_the_page_is_one_self_contained_document(client):
    import re

    response = client.get("/")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    page = response.text
    for element in ("upload-form", "files", "fs", "submit", "status", "error", "strip", "legend", "summary",
                    "uncertain", "prev-page", "next-page"):
        assert f'id="{element}"' in page, element
    # nothing fetched from elsewhere: no external script, style sheet, image or font, no absolute URL but SVG's
    assert not re.findall(r"<(?:link|img|iframe)\b|\bsrc=|@import|url\(", page)
    assert set(re.findall(r"https?://[^\s\"'`]+", page)) == {"http://www.w3.org/2000/svg"}
    assert re.findall(r'fetch\("([^"]+)"', page) == ["model", "health", "predict/upload"]


upload_names = st.sampled_from(["300.hea", "300.dat", "300.atr", "301.dat", "lead.csv", "x.txt", "300.HEA",
                                "../300.hea", "C:\\300.dat", "a b.csv", ".hea"]) | st.text(max_size=10)


@st.composite
def uploaded_files(draw, record: dict[str, bytes]):
    """Some of the record's files, cut short, corrupted or renamed, and files of random bytes."""
    files = []
    for _ in range(draw(st.integers(0, 4))):
        original = record[draw(st.sampled_from(sorted(record)))]
        content = draw(st.one_of(
            st.binary(max_size=200),
            st.just(original),
            st.integers(0, len(original)).map(lambda n: original[:n]),
            st.tuples(st.integers(0, len(original) - 1), st.binary(min_size=1, max_size=8)).map(
                lambda t: original[:t[0]] + t[1] + original[t[0] + len(t[1]):]),
        ))
        files.append((draw(upload_names), content))
    return files


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), fs=st.none() | st.sampled_from(["360", "0", "nan", "-1", "1e9", ""]) | st.text(max_size=6))
def test_malformed_uploads_get_a_4xx_and_the_server_keeps_serving(client, record_files, data, fs):
    files = data.draw(uploaded_files(record_files))
    response = client.post("/predict/upload", files=[("files", f) for f in files] or None,
                           data=None if fs is None else {"fs": fs},
                           headers=None if files or fs is not None else {"content-type": "multipart/form-data"})
    if response.status_code == 200:  # an intact record may be drawn: then it is a real answer
        assert response.json()["summary"]["beats"] == len(response.json()["predictions"]) > 0
    else:
        assert 400 <= response.status_code < 500, (files, fs, response.text)
        assert isinstance(response.json()["error"], str)
    assert client.get("/health").status_code == 200


def test_model_serves_the_model_card_and_an_upload_of_a_seen_record_is_flagged(client, tmp_path):
    from tests.conftest import write_record

    card = client.get("/model").json()["model_card_text"]
    assert card.startswith("---\n") and "# Model card" in card and "## Limits" in card
    write_record(tmp_path, "200", n_beats=30)  # a mitdb record: every one trained the intra grid's models
    files = [("files", (f"200{s}", (tmp_path / f"200{s}").read_bytes())) for s in (".hea", ".dat", ".atr")]
    answer = client.post("/predict/upload", files=files).json()
    assert answer["warnings"] and "record 200 was in this model's training part" in answer["warnings"][0]
    write_record(tmp_path, "300", n_beats=30)
    files = [("files", (f"300{s}", (tmp_path / f"300{s}").read_bytes())) for s in (".hea", ".dat", ".atr")]
    assert client.post("/predict/upload", files=files).json()["warnings"] == []
