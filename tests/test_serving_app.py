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
    assert client.get("/health").json() == {"status": "ok", "model": MLP_RUN}
    assert client.get("/model").json() == bundle.metadata
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
    ({"beats": [[0.5] * 187] * (api.MAX_BEATS + 1)}, 413, "at most"),
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
    ({"signal": [0.0] * 5000, "fs": float("inf")}, "outside"), ({"signal": [0.0] * 100, "fs": 360}, "too short"),
    ({"signal": [[0.0]] * 5000, "fs": 360}, "flat list"), ({"signal": [0.0] * 5000}, '"fs"'),
])
def test_bad_records_are_named(client, body, says):
    response = client.post("/predict/record", content=json.dumps(body))
    assert response.status_code == 422 and says in response.json()["error"], response.text


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
