"""The Streamlit app's pages with ``streamlit.testing.v1.AppTest``: in process and through the API.

AppTest cannot draw on the canvas, so a drawing is injected the way the canvas delivers it: a 2-D
0–255 array in ``st.session_state["digits_input"]`` (the page's single input slot).
"""

from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from .conftest import REPO

MAIN = str(REPO / "app" / "ui" / "main.py")


@pytest.fixture
def app_env(monkeypatch, served_root):
    monkeypatch.setenv("ACADEMY_MODELS", str(served_root))
    monkeypatch.delenv("API_URL", raising=False)
    monkeypatch.delenv("ACADEMY_PIN", raising=False)


def run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_home_lists_course_and_models(app_env):
    at = run(AppTest.from_file(MAIN, default_timeout=60))
    assert at.title[0].value.endswith("AIaaS Academy")
    text = " ".join(m.value for m in at.markdown)
    assert "make lab" in text and "Models on offer" in " ".join(h.value for h in at.subheader)
    assert "`digits` v1" in text and "test accuracy" in text and "svc" in text


def test_digits_examples_and_injected_drawing(app_env, server, test_digits):
    at = run(AppTest.from_file(MAIN, default_timeout=60))
    run(at.switch_page("views/digits.py"))
    assert at.title[0].value.endswith("Digits")
    assert "Draw a digit" in at.info[0].value and not at.metric
    assert len([b for b in at.button if b.key and b.key.startswith("example_")]) == 10

    at.button(key="example_7").click()
    run(at)
    assert at.metric[0].label == "Prediction for test digit 7"
    assert at.metric[0].value in {str(d) for d in range(10)}

    image, label = test_digits[0][3], test_digits[1][3]
    at.session_state["digits_input"] = {"image": image.astype(np.uint8), "source": "your drawing"}
    run(at)
    expected = server.predict("digits", {"image": image.tolist()})
    assert at.metric[0].label == "Prediction for your drawing"
    assert at.metric[0].value == str(expected["label"]) == str(label)
    captions = " ".join(c.value for c in at.caption)
    assert f"{expected['top3'][0]['probability']:.1%} probability" in captions
    assert len(at.get("image")) >= 13         # 10 examples + the 8×8 input, what you gave it, the feature maps
    assert at.get("vega_lite_chart")          # the top-3 chart


def test_digits_reports_a_bad_input(app_env):
    at = run(AppTest.from_file(MAIN, default_timeout=60))
    run(at.switch_page("views/digits.py"))
    at.session_state["digits_input"] = {"image": np.zeros((600, 10), np.uint8), "source": "a huge picture"}
    run(at)
    assert at.error and "512×512" in at.error[0].value


def test_model_cards_show_metrics_beside_baselines(app_env):
    at = run(AppTest.from_file(MAIN, default_timeout=60))
    run(at.switch_page("views/cards.py"))
    assert at.selectbox[0].value == "digits"
    frames = [d.value for d in at.dataframe]
    pairs = frames[0]                     # side by side: this model's test_accuracy beside the SVC's
    row = pairs[pairs["metric"] == "test_accuracy"].iloc[0]
    assert row["this model"] < 1 and row["svc"] == 0.98
    metrics = frames[1]
    assert {"test_accuracy", "svc_test_accuracy"} <= set(metrics["metric"])
    assert set(metrics["kind"]) == {"this model", "baseline"}
    keys = set().union(*(set(f["key"]) for f in frames[2:] if "key" in f))
    assert {"sizes.train", "seed", "epochs", "device", "channels"} <= keys


@pytest.mark.parametrize("page", ["views/home.py", "views/digits.py", "views/cards.py"])
def test_pages_say_how_to_build_models_when_there_are_none(monkeypatch, tmp_path, page):
    monkeypatch.setenv("ACADEMY_MODELS", str(tmp_path))
    monkeypatch.delenv("API_URL", raising=False)
    at = run(AppTest.from_file(MAIN, default_timeout=60))
    run(at.switch_page(page))
    assert any("make models" in w.value for w in at.warning)


def test_digits_through_the_http_api(monkeypatch, api_url, server, test_digits):
    """API_URL: the app is a client of the running API and shows the same answer."""
    monkeypatch.setenv("API_URL", api_url)
    at = run(AppTest.from_file(MAIN, default_timeout=60))
    run(at.switch_page("views/digits.py"))
    assert api_url in " ".join(c.value for c in at.caption)
    image = test_digits[0][5]
    at.session_state["digits_input"] = {"image": image.astype(np.uint8), "source": "your drawing"}
    run(at)
    assert at.metric[0].value == str(server.predict("digits", {"image": image.tolist()})["label"])
