"""Schemathesis (v4) against the API's own OpenAPI schema: whatever it sends, never a 5xx.

Bounded: a few dozen examples per operation, in-process (ASGI), well under a minute on 2 cores.
The schema does not depend on the models, so the app is built at import and its ModelServer is
filled with the session's trained model by a fixture before any case runs.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error

from app.api import create_app
from app.serving import ModelServer

SERVER = ModelServer("/nonexistent", pins={})
schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(SERVER))


@pytest.fixture(scope="module", autouse=True)
def _models(server):
    SERVER.root, SERVER.models, SERVER.errors, SERVER.loaded_at = server.root, server.models, {}, server.loaded_at
    yield


@schema.parametrize()
@settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck),
          phases=[Phase.explicit, Phase.generate])
def test_no_server_errors(case):
    response = case.call()
    assert response.status_code < 500, (case.method, case.path, case.body, response.text[:300])
    case.validate_response(response, checks=[not_a_server_error])


@schema.include(path_regex="predict").parametrize()
@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck),
          phases=[Phase.explicit, Phase.generate])
def test_predict_on_the_served_model_never_5xx(case):
    """The same bodies sent to the model that IS served, so they reach validation and the model."""
    case.path_parameters = {"name": "digits"}
    response = case.call()
    assert response.status_code < 500, (case.body, response.text[:300])
    assert response.status_code in (200, 400, 405, 413, 422), response.text[:300]   # 405: other methods probed
    if response.status_code == 200:
        assert len(response.json()["probabilities"]) == 10
    else:
        assert set(response.json()["error"]) == {"code", "message"}
