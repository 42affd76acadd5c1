"""The inference API: every endpoint, every bad input (status + a message that says what to do),
the real server as a subprocess (end to end, concurrency), and the serving layer's contracts."""

from __future__ import annotations

import base64
import io
import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
from PIL import Image

PREDICT = "/v1/models/digits/predict"


def png_b64(a: np.ndarray, mode: str | None = None) -> str:
    buf = io.BytesIO()
    Image.fromarray(np.asarray(a, dtype=np.uint8), mode=mode).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


def assert_error(r: httpx.Response, status: int, code: str, *words: str) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert body["error"]["code"] == code, body
    msg = body["error"]["message"]
    for w in words:
        assert w.lower() in msg.lower(), (w, msg)
    return msg


# ------------------------------------------------------------------------------------------ endpoints

def test_health_ready_and_cards(client, server):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["models"] == {"digits": "v1"}
    cards = client.get("/v1/models").json()
    assert isinstance(cards, list) and [c["name"] for c in cards] == ["digits"]
    card = client.get("/v1/models/digits").json()
    assert card == cards[0] == server.get("digits").card
    for key in ("version", "architecture", "task", "config", "metrics", "dataset", "training"):
        assert key in card
    assert card["task"] == "digits" and "test_accuracy" in card["metrics"]


def test_predict_matches_the_library_preprocessing(client, server, test_digits):
    """The API's answer = model(preprocess_image(image)) computed here with the library."""
    import torch

    from academy.data.digits import preprocess_image

    model = server.get("digits").model
    images, labels = test_digits
    correct = 0
    for image, label in zip(images[:10], labels[:10], strict=True):
        out = client.post(PREDICT, json={"image": image.tolist()}).json()
        with torch.no_grad():
            expected = torch.softmax(model(preprocess_image(image)), -1)[0].numpy()
        assert set(out) >= {"label", "probabilities", "top3", "model", "version"}
        assert len(out["probabilities"]) == 10 and abs(sum(out["probabilities"]) - 1) < 1e-4
        np.testing.assert_allclose(out["probabilities"], expected, atol=1e-5)
        assert out["label"] == int(expected.argmax()) == out["top3"][0]["label"]
        assert [t["probability"] for t in out["top3"]] == sorted(out["probabilities"], reverse=True)[:3]
        correct += out["label"] == label
    assert correct >= 8


def test_predict_png_scale_polarity_and_explain(client, test_digits):
    image = test_digits[0][0]
    by_array = client.post(PREDICT, json={"image": image.tolist()}).json()
    by_unit = client.post(PREDICT, json={"image": (image / 255).tolist()}).json()
    by_png = client.post(PREDICT, json={"png": png_b64(image)}).json()
    inverted = client.post(PREDICT, json={"png": png_b64(255 - image)}).json()    # dark ink on white paper
    rgba = np.zeros((*image.shape, 4), np.uint8)
    rgba[..., 3] = image                                                           # ink only in the alpha
    by_alpha = client.post(PREDICT, json={"png": png_b64(rgba, "RGBA")}).json()
    for other in (by_unit, by_png, inverted, by_alpha):
        assert other["label"] == by_array["label"]
        np.testing.assert_allclose(other["probabilities"], by_array["probabilities"], atol=1e-3)
    explained = client.post(PREDICT, json={"image": image.tolist(), "explain": True}).json()
    from academy.data.digits import image_to_ink

    np.testing.assert_allclose(explained["input_8x8"], image_to_ink(image), atol=1e-3)
    maps = np.asarray(explained["feature_maps"])
    assert maps.shape == (8, 8, 8)           # the fixture's model has 8 first-layer channels
    assert "feature_maps" not in by_array or by_array["feature_maps"] is None


def test_noop_and_openapi(client):
    assert client.get("/v1/noop").json() == {"ok": True}
    assert client.post("/v1/noop", json={"image": [[1]]}).json() == {"ok": True}
    schema = client.get("/openapi.json").json()
    assert {"/v1/models", "/v1/models/{name}", "/v1/models/{name}/predict", "/healthz", "/readyz", "/metrics",
            "/v1/noop"} <= set(schema["paths"])
    body = schema["paths"]["/v1/models/{name}/predict"]["post"]["requestBody"]["content"]["application/json"]
    assert "DigitsRequest" in json.dumps(body["schema"]) and "DigitsRequest" in schema["components"]["schemas"]
    assert client.get("/docs").status_code == 200


def test_metrics_count_requests_errors_and_latency_per_model(client):
    client.post(PREDICT, json={"image": [[0, 255], [255, 0]]})
    client.post(PREDICT, json={"image": []})
    client.post("/v1/models/does-not-exist/predict", json={})
    text = client.get("/metrics").text
    ok = 'academy_http_requests_total{endpoint="/v1/models/{name}/predict",model="digits",status="200"}'
    bad = 'academy_http_errors_total{endpoint="/v1/models/{name}/predict",model="digits",status="422"}'
    assert ok in text and bad in text
    assert 'academy_http_request_duration_seconds_bucket{endpoint="/v1/models/{name}/predict",le="0.005",' \
           'model="digits"}' in text
    assert 'model="unknown"' in text and "does-not-exist" not in text    # bounded label cardinality
    assert 'academy_models_loaded{model="digits",version="v1"} 1.0' in text


# ------------------------------------------------------------------------------------------ bad inputs

BAD = [
    # (id, body, status, code, words the message must contain)
    ("ragged", {"image": [[1, 2], [3]]}, 422, "invalid_shape", ["rectangular"]),
    ("3-d", {"image": [[[1]]]}, 422, "validation_error", ["2-D grayscale array"]),
    ("1-d", {"image": [1, 2, 3]}, 422, "validation_error", ["2-D grayscale array"]),
    ("empty", {"image": []}, 422, "validation_error", ["at least 1", "512×512"]),
    ("empty row", {"image": [[]]}, 422, "validation_error", ["at least 1"]),
    ("strings", {"image": [["1", "2"]]}, 422, "validation_error", ["valid number"]),
    ("too many rows", {"image": [[0]] * 513}, 422, "validation_error", ["at most 512", "512×512"]),
    ("too wide", {"image": [[0] * 513]}, 422, "validation_error", ["at most 512"]),
    ("out of range", {"image": [[0, 300]]}, 422, "invalid_image", ["0–255"]),
    ("negative", {"image": [[0, -1]]}, 422, "invalid_image", ["0–255"]),
    ("both", {"image": [[1]], "png": "AAAA"}, 422, "validation_error", ["exactly one"]),
    ("neither", {}, 422, "validation_error", ["exactly one"]),
    ("unknown field", {"image": [[1]], "colour": 1}, 422, "validation_error", ["colour", "extra"]),
    ("bad base64", {"png": "not base64 !!"}, 422, "invalid_base64", ["base64"]),
    ("not an image", {"png": base64.b64encode(b"hello, I am text").decode()}, 422, "invalid_image",
     ["not an image", "PNG"]),
    ("not an object", [1, 2], 422, "validation_error", ["object"]),
]


@pytest.mark.parametrize("body,status,code,words", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_inputs_get_clear_4xx(client, body, status, code, words):
    assert_error(client.post(PREDICT, json=body), status, code, *words)


def test_nan_and_infinity(client):
    for literal in ("NaN", "Infinity", "-Infinity"):
        r = client.post(PREDICT, content=f'{{"image": [[0, {literal}]]}}',
                        headers={"content-type": "application/json"})
        assert_error(r, 422, "invalid_image", "NaN or infinite", "finite numbers")


def test_invalid_json_and_oversized_png(client):
    assert_error(client.post(PREDICT, content=b'{"image": [[1, 2]'), 400, "invalid_json", "not valid JSON", "Send")
    big = np.zeros((600, 20), np.uint8)
    assert_error(client.post(PREDICT, json={"png": png_b64(big)}), 422, "image_too_large", "600×20", "downscale")


def test_unknown_model_and_route(client):
    msg = assert_error(client.post("/v1/models/nope/predict", json={"image": [[1]]}), 404, "model_not_found",
                       "nope", "GET /v1/models")
    assert "digits" in msg
    assert_error(client.get("/v1/models/nope"), 404, "model_not_found", "served models: digits")
    assert_error(client.get("/v2/whatever"), 404, "not_found", "/docs")
    assert_error(client.delete(PREDICT), 405, "method_not_allowed", "/docs")


def test_body_size_limit_is_413(client):
    from app.api import MAX_BODY_BYTES

    r = client.post(PREDICT, content=b"[" + b"0," * (MAX_BODY_BYTES // 2) + b"0]",
                    headers={"content-type": "application/json"})
    assert_error(r, 413, "payload_too_large", "larger than", "smaller image")


def test_body_size_limit_without_content_length():
    """A chunked body (no Content-Length) is cut off at the limit too."""
    from fastapi.testclient import TestClient

    from app.api import create_app
    from app.serving import ModelServer

    app = create_app(ModelServer("/nonexistent-registry", pins={}), max_body=1000)

    def chunks():
        for _ in range(10):
            yield b" " * 500

    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.post("/v1/noop", content=chunks())
        assert "content-length" not in {k.lower() for k in r.request.headers}
        assert_error(r, 413, "payload_too_large", "1000 bytes")


def test_not_ready_without_models(tmp_path):
    from fastapi.testclient import TestClient

    from app.api import create_app
    from app.serving import ModelServer

    with TestClient(create_app(ModelServer(tmp_path, pins={})), raise_server_exceptions=False) as c:
        assert c.get("/healthz").status_code == 200
        assert_error(c.get("/readyz"), 503, "not_ready", "make models")
        assert c.get("/v1/models").json() == []
        assert_error(c.post(PREDICT, json={"image": [[1]]}), 404, "model_not_found", "served models: none")


# ------------------------------------------------------------------------------------------ serving layer

def test_pins_and_versions(served_root, tmp_path):
    """ACADEMY_PIN picks a version; LATEST is the default; a bad pin is reported, not served."""
    import shutil

    from academy import registry
    from app.serving import ModelServer, parse_pins

    root = tmp_path / "models"
    shutil.copytree(served_root, root)
    model, card = registry.load("digits", None, root)
    registry.save(model, "digits", root=root, metrics=card["metrics"], dataset=card["dataset"],
                  training=card["training"])
    assert ModelServer(root, pins={}).load().get("digits").version == "v2"
    assert ModelServer(root, pins={"digits": "v1"}).load().get("digits").version == "v1"
    broken = ModelServer(root, pins={"digits": "v9"}).load()
    assert "digits" not in broken.models and "v9" in broken.errors["digits"]
    assert parse_pins("digits=v2, names=v1") == {"digits": "v2", "names": "v1"}
    with pytest.raises(ValueError, match="name=version"):
        parse_pins("digits")


def test_unknown_task_is_reported_not_served(served_root, tmp_path, monkeypatch):
    import shutil

    from app import serving

    root = tmp_path / "models"
    shutil.copytree(served_root, root)
    monkeypatch.setattr(serving, "HANDLERS", {})
    server = serving.ModelServer(root, pins={}).load()
    assert not server.models and "no handler" in server.errors["digits"]


def test_models_are_in_eval_mode(server):
    model = server.get("digits").model
    assert not model.training and all(not m.training for m in model.modules())


# ------------------------------------------------------------------------------------------ real server

def test_end_to_end_real_server(api_url, test_digits):
    images, labels = test_digits
    with httpx.Client(base_url=api_url, timeout=30) as http:
        assert http.get("/healthz").json() == {"status": "ok"}
        assert http.get("/readyz").json()["models"] == {"digits": "v1"}
        assert http.get("/v1/models/digits").json()["task"] == "digits"
        out = http.post(PREDICT, json={"png": png_b64(images[1])}).json()
        assert out["label"] == labels[1] and len(out["probabilities"]) == 10
        assert_error(http.post(PREDICT, json={"image": []}), 422,
                     "validation_error", "at least 1")
        big = http.post(PREDICT, content=b" " * (9 * 1024 * 1024), headers={"content-type": "application/json"})
        assert_error(big, 413, "payload_too_large")
        full = np.zeros((512, 512))                                              # the largest accepted image
        full[100:400, 240:270] = 255
        assert http.post(PREDICT, json={"image": full.tolist()}).json()["label"] in range(10)
        assert "academy_http_requests_total" in http.get("/metrics").text
        assert http.get("/docs").status_code == 200


def test_concurrent_requests_match_sequential(api_url, test_digits):
    images, _ = test_digits
    bodies = [{"image": im.tolist()} for im in images] + [{"png": png_b64(im)} for im in images]
    with httpx.Client(base_url=api_url, timeout=30) as http:
        sequential = [http.post(PREDICT, json=b).json() for b in bodies]

    def call(i: int) -> tuple[int, dict]:
        with httpx.Client(base_url=api_url, timeout=60) as h:
            return i, h.post(PREDICT, json=bodies[i % len(bodies)]).json()

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(call, range(4 * len(bodies))))
    for i, out in results:
        assert out == sequential[i % len(bodies)]


def test_in_process_threads_match_sequential(server, test_digits):
    """The same check without HTTP: many threads on one ServedModel (its lock, inference mode)."""
    images, _ = test_digits
    served = server.get("digits")
    sequential = [served.predict({"image": im.tolist()}) for im in images]
    with ThreadPoolExecutor(max_workers=8) as pool:
        parallel = list(pool.map(lambda i: served.predict({"image": images[i % 20].tolist()}), range(160)))
    assert all(out == sequential[i % 20] for i, out in enumerate(parallel))


def test_compiled_runtime_equals_the_eager_model(server, test_digits, monkeypatch):
    """The fast path (BatchNorm folded into the convolutions) answers what the registry's model answers."""
    import torch

    from app.serving import DigitsHandler

    served = server.get("digits")
    assert served.runtime is not served.model and not any(isinstance(m, torch.nn.BatchNorm2d)
                                                          for m in served.runtime.modules())
    x = torch.stack([DigitsHandler().prepare(im).x[0] for im in test_digits[0]])
    with torch.inference_mode():
        torch.testing.assert_close(served.runtime(x), served.model(x), atol=1e-4, rtol=1e-4)
    monkeypatch.setenv("ACADEMY_FUSE", "0")
    assert DigitsHandler().compile(served.model) is served.model


def test_oversized_png_is_413(client):
    huge = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * (5 * 1024 * 1024)).decode()
    assert_error(client.post(PREDICT, json={"png": huge}), 413, "payload_too_large", "smaller PNG")


def test_bad_pin_stops_the_api_with_a_message(model_env):
    import subprocess
    import sys

    from .conftest import REPO

    r = subprocess.run([sys.executable, "-m", "app.api", "--port", "1"], cwd=REPO, capture_output=True, text=True,
                       env={**model_env, "ACADEMY_PIN": "digits"}, timeout=60)
    assert r.returncode == 2 and "name=version" in r.stderr


def test_a_server_bug_is_a_json_500(server, monkeypatch):
    from fastapi.testclient import TestClient

    from app.api import create_app
    from app.serving import ServedModel

    def broken(self, body):
        raise RuntimeError("boom")

    monkeypatch.setattr(ServedModel, "predict", broken)
    with TestClient(create_app(server), raise_server_exceptions=False) as c:
        msg = assert_error(c.post(PREDICT, json={"image": [[1]]}), 500, "internal_error", "logged")
        assert "boom" not in msg                       # no internals leak to the caller
        assert 'status="500"' in c.get("/metrics").text
