"""One client interface over the serving code: in process (default) or the HTTP API (``API_URL``).

The Streamlit app talks only to a client, so it shows exactly what the API would answer.
Both raise ``ServingError`` with the API's code and message.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image

from app.serving import ModelServer, ServingError


class Client(Protocol):
    where: str

    def cards(self) -> list[dict]: ...
    def card(self, name: str) -> dict: ...
    def predict(self, name: str, body: dict) -> dict: ...
    def errors(self) -> dict[str, str]: ...


class LocalClient:
    """The models loaded in this process (``ModelServer``), from the registry at ``root``."""

    def __init__(self, root: str | Path | None = None, server: ModelServer | None = None):
        self.server = server or ModelServer(root).load()
        self.where = f"in process, registry {self.server.root}"

    def cards(self) -> list[dict]:
        return self.server.cards()

    def card(self, name: str) -> dict:
        return self.server.get(name).card

    def predict(self, name: str, body: dict) -> dict:
        return self.server.predict(name, body)

    def errors(self) -> dict[str, str]:
        return dict(self.server.errors)


class HttpClient:
    """The inference API at ``base_url`` (e.g. http://127.0.0.1:8000)."""

    def __init__(self, base_url: str, timeout: float = 10.0):
        import httpx

        self.base_url = base_url.rstrip("/")
        self.where = f"HTTP API {self.base_url}"
        self.http = httpx.Client(base_url=self.base_url, timeout=timeout)

    def _call(self, method: str, path: str, **kwargs) -> Any:
        import httpx

        try:
            r = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as e:
            raise ServingError(503, "api_unreachable", f"cannot reach the API at {self.base_url} ({e}): start it "
                                                       "with `make serve`, or unset API_URL") from None
        if r.status_code >= 400:
            try:
                err = r.json()["error"]
                raise ServingError(r.status_code, err["code"], err["message"])
            except (ValueError, KeyError, TypeError):
                raise ServingError(r.status_code, "http_error", f"{method} {path}: HTTP {r.status_code}") from None
        return r.json()

    def cards(self) -> list[dict]:
        return self._call("GET", "/v1/models")

    def card(self, name: str) -> dict:
        return self._call("GET", f"/v1/models/{name}")

    def predict(self, name: str, body: dict) -> dict:
        return self._call("POST", f"/v1/models/{name}/predict", json=body)

    def errors(self) -> dict[str, str]:
        try:
            return self._call("GET", "/readyz").get("errors", {})
        except ServingError as e:
            return {"api": e.message}


def png_base64(image: np.ndarray) -> str:
    """A 2-D 0–255 array (or an RGB/RGBA one) → base64 PNG, the compact way to send a drawing."""
    a = np.asarray(image)
    if a.dtype != np.uint8:
        a = np.clip(a, 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")
