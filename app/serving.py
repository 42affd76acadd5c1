"""In-process serving: load the registry's models once, validate requests, predict.

Used by BOTH the HTTP API (``app.api``) and the Streamlit app (``app.ui``), so a prediction is the
same wherever it is made. What a model does is chosen by its card's ``task`` through ``HANDLERS``:
a later track serves a new kind of model by adding one ``TaskHandler`` to that table, nothing else.

Thread safety: every model is in eval mode (``registry.load`` does it; BatchNorm uses its running
statistics, dropout is off) and is only ever called under ``torch.inference_mode()``, so a forward
pass writes nothing to the module. We still run each model's forward under its own lock: the
models are tiny (a forward is ~0.2 ms), the lock costs nothing measurable at that size, and it
keeps the guarantee even for a future handler whose model has mutable state (a cache, a hook).
Preprocessing (decoding, ``preprocess_image``) runs outside the lock. The model that answers is a
copy with BatchNorm folded into the convolutions (``DigitsHandler.compile``; same outputs).
"""

from __future__ import annotations

import base64
import binascii
import copy
import io
import logging
import os
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar

import numpy as np
import torch
import torch.nn as nn
from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError, model_validator
from torch.nn.utils.fusion import fuse_conv_bn_eval

from academy import registry
from academy.data import digits as digits_data

log = logging.getLogger("app.serving")
MAX_SIDE = digits_data.MAX_SIDE
MAX_PNG_BYTES = 4 * 1024 * 1024      # decoded PNG size we accept (a 512×512 RGBA PNG is at most ~1 MiB)


class ServingError(Exception):
    """A caller's mistake (or a missing model) with an HTTP status, a stable code and what to do."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


# ---------------------------------------------------------------------------------------------
# Request / response models (the edge: pydantic)
# ---------------------------------------------------------------------------------------------

Row = Annotated[list[Annotated[float, Strict()]], Field(min_length=1, max_length=MAX_SIDE)]


class DigitsRequest(BaseModel):
    """Exactly one of ``image`` (2-D grayscale array) or ``png`` (base64 PNG). ``explain`` adds the
    8×8 input the model saw and the first conv layer's feature maps to the answer."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"image": [[0, 255, 0], [0, 255, 0], [0, 255, 0]]}]})

    image: list[Row] | None = Field(
        None, min_length=1, max_length=MAX_SIDE,
        description=f"rows of a grayscale image, at most {MAX_SIDE}×{MAX_SIDE}; values 0–255 or 0–1, "
                    "either polarity (dark ink on light paper is inverted)")
    png: str | None = Field(None, min_length=1,
                            description=f"base64 of a PNG (or any Pillow-readable image) up to "
                                        f"{MAX_SIDE}×{MAX_SIDE}; colour is converted to grayscale")
    explain: bool = Field(False, description="also return `input_8x8` and `feature_maps` (first conv layer)")

    @model_validator(mode="after")
    def _exactly_one(self) -> DigitsRequest:
        if (self.image is None) == (self.png is None):
            raise ValueError('send exactly one of "image" (a 2-D array of numbers) or "png" (base64 PNG)')
        return self


class TopK(BaseModel):
    label: int | str
    probability: float


class PredictResponse(BaseModel):
    model: str = Field(description="model name")
    version: str = Field(description="registry version that answered")
    label: int | str = Field(description="the most probable class")
    probabilities: list[float] = Field(description="one probability per class, in class order (digits: 0–9)")
    top3: list[TopK] = Field(description="the three most probable classes, best first")
    input_8x8: list[list[float]] | None = Field(None, description="(explain) ink counts 0–16 the model saw")
    feature_maps: list[list[list[float]]] | None = Field(
        None, description="(explain) first conv layer's activations, (channels, 8, 8)")


# ---------------------------------------------------------------------------------------------
# Task handlers: card["task"] → how to read a request and run the model
# ---------------------------------------------------------------------------------------------

class TaskHandler(ABC):
    """One kind of model. ``parse`` turns a JSON body into the model's input (or raises
    ServingError 4xx); ``predict`` runs the model (under the caller's lock) and returns a dict
    matching ``response_model``."""

    task: ClassVar[str]
    request_model: ClassVar[type[BaseModel]]
    response_model: ClassVar[type[BaseModel]] = PredictResponse
    usage: ClassVar[str]          # one line that tells a caller what to send

    @abstractmethod
    def parse(self, body: Any) -> Any:
        """JSON body → the model's input, or ServingError (4xx)."""

    @abstractmethod
    def predict(self, model: nn.Module, inputs: Any, runtime: Any = None) -> dict:
        """``runtime``: what ``compile`` returned (the fast path); ``model``: the registry's module."""

    def compile(self, model: nn.Module) -> Any:
        """An inference-only callable equal to ``model`` (default: the model itself)."""
        return model


def validation_message(e: ValidationError, usage: str) -> str:
    """Pydantic's errors as one readable line plus what to send."""
    parts = []
    for err in e.errors()[:3]:
        loc = ".".join(str(p) for p in err["loc"]) or "body"
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}")
    more = f" (and {len(e.errors()) - 3} more)" if len(e.errors()) > 3 else ""
    return "; ".join(parts) + more + f". {usage}"


def validate(request_model: type[BaseModel], body: Any, usage: str) -> Any:
    """A request model from raw JSON bytes/str (pydantic's fast parser) or an already-decoded object."""
    if isinstance(body, request_model):
        return body
    try:
        if isinstance(body, bytes | bytearray | str):
            return request_model.model_validate_json(body)
        return request_model.model_validate(body)
    except ValidationError as e:
        if any(err["type"] == "json_invalid" for err in e.errors()):
            raise ServingError(400, "invalid_json", f"the request body is not valid JSON "
                                                    f"({e.errors()[0]['msg']}). {usage}") from None
        raise ServingError(422, "validation_error", validation_message(e, usage)) from None


def decode_png(b64: str) -> np.ndarray:
    """base64 image → 2-D float array 0–255 (alpha composited onto white). Raises ServingError."""
    try:
        raw = base64.b64decode(b64.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ServingError(422, "invalid_base64", '"png" is not valid base64: encode the PNG file\'s bytes '
                                                  "with standard base64 (e.g. `base64 -w0 digit.png`)") from None
    if len(raw) > MAX_PNG_BYTES:
        raise ServingError(413, "payload_too_large",
                           f"the decoded image is {len(raw)} bytes; the limit is {MAX_PNG_BYTES}: send a smaller PNG")
    try:
        with Image.open(io.BytesIO(raw)) as img:
            w, h = img.size             # header only: check the size before decoding any pixels
            if w > MAX_SIDE or h > MAX_SIDE:
                raise ServingError(422, "image_too_large", f"image is {h}×{w}; the largest accepted is "
                                                           f"{MAX_SIDE}×{MAX_SIDE}: downscale it first")
            img.load()
            if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
                rgba = img.convert("RGBA")
                white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                img = Image.alpha_composite(white, rgba)
            gray = np.asarray(img.convert("L"), dtype=np.float32)
    except ServingError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError, SyntaxError):
        raise ServingError(422, "invalid_image", '"png" decodes to bytes that are not an image Pillow can read: '
                                                 "send a PNG file's bytes, base64-encoded") from None
    return gray


class DigitsHandler(TaskHandler):
    task = "digits"
    request_model = DigitsRequest
    usage = (f'Send {{"image": [[...], ...]}} (a 2-D grayscale array up to {MAX_SIDE}×{MAX_SIDE}, values 0–255 '
             'or 0–1) or {"png": "<base64 of a PNG>"}.')

    @dataclass
    class Inputs:
        x: torch.Tensor           # (1, 1, 8, 8) normalised, exactly as in training
        ink: np.ndarray | None    # (8, 8) ink counts 0–16 (explain only)
        explain: bool

    def parse(self, body: Any) -> DigitsHandler.Inputs:
        req = validate(self.request_model, body, self.usage)
        if req.png is not None:
            image = decode_png(req.png)
        else:
            widths = {len(row) for row in req.image}
            if len(widths) != 1:
                raise ServingError(422, "invalid_shape", f'"image" rows have different lengths {sorted(widths)[:5]}: '
                                                         "send a rectangular 2-D array (every row the same length)")
            image = np.asarray(req.image, dtype=np.float64)
        return self.prepare(image, req.explain)

    def prepare(self, image: np.ndarray, explain: bool = False) -> DigitsHandler.Inputs:
        """A 2-D array → model input through the library's ``preprocess_image`` (the training
        preprocessing); with ``explain`` also ``image_to_ink``'s 8×8 picture for display."""
        try:
            x = digits_data.preprocess_image(image)
            ink = digits_data.image_to_ink(image) if explain else None
        except ValueError as e:
            code = "image_too_large" if "largest accepted" in str(e) else "invalid_image"
            raise ServingError(422, code, str(e)) from None
        return self.Inputs(x, ink, explain)

    def compile(self, model: nn.Module) -> Any:
        """A copy with each BatchNorm folded into its convolution (eval mode: the same function, ~15%
        fewer ops per call, which is what an 8×8 input costs). Checked against the eager model on a
        probe batch, else the model itself is served. ``ACADEMY_FUSE=0`` turns it off.
        (TorchScript tracing would save more, but ``torch.jit`` is deprecated in this torch.)"""
        if os.environ.get("ACADEMY_FUSE", "1") == "0":
            return model
        try:
            fused = copy.deepcopy(model).eval()
            for block in fused.modules():
                conv, norm = getattr(block, "conv", None), getattr(block, "norm", None)
                if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d):
                    block.conv, block.norm = fuse_conv_bn_eval(conv, norm), nn.Identity()
            probe = torch.randn(4, 1, digits_data.SIDE, digits_data.SIDE, generator=torch.Generator().manual_seed(0))
            with torch.inference_mode():
                if not torch.allclose(fused(probe), model(probe), atol=1e-4, rtol=1e-4):
                    raise RuntimeError("the fused model's outputs differ from the eager model's")
            return fused
        except Exception as e:   # anything unexpected: serve the registry's model, which is always right
            log.warning("serving the unfused model (%s)", e)
            return model

    def predict(self, model: nn.Module, inputs: DigitsHandler.Inputs, runtime: Any = None) -> dict:
        with torch.inference_mode():
            logits = (runtime if runtime is not None else model)(inputs.x)
            maps = model.feature_maps(inputs.x)[0] if inputs.explain else None
        probs = torch.softmax(logits[0].float(), dim=-1).tolist()
        order = sorted(range(len(probs)), key=probs.__getitem__, reverse=True)[:3]
        out = {
            "label": order[0],
            "probabilities": [round(p, 6) for p in probs],
            "top3": [{"label": i, "probability": round(probs[i], 6)} for i in order],
        }
        if inputs.explain:
            out["input_8x8"] = np.round(inputs.ink, 3).tolist()
            out["feature_maps"] = np.round(maps.numpy(), 4).tolist()
        return out


HANDLERS: dict[str, TaskHandler] = {h.task: h for h in (DigitsHandler(),)}


# ---------------------------------------------------------------------------------------------
# Loaded models
# ---------------------------------------------------------------------------------------------

@dataclass
class ServedModel:
    name: str
    card: dict
    model: nn.Module
    handler: TaskHandler
    runtime: Any = None           # handler.compile(model): the fast inference path
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def version(self) -> str:
        return self.card["version"]

    def predict(self, body: Any) -> dict:
        inputs = self.handler.parse(body)          # validation + preprocessing: parallel, no lock
        with self.lock:
            out = self.handler.predict(self.model, inputs, self.runtime)
        return {"model": self.name, "version": self.version, **out}


def parse_pins(text: str | None) -> dict[str, str]:
    """``"digits=v2,names=v1"`` → {"digits": "v2", "names": "v1"}."""
    pins: dict[str, str] = {}
    for part in (text or "").replace(";", ",").split(","):
        if not part.strip():
            continue
        name, sep, version = part.partition("=")
        if not sep or not name.strip() or not version.strip():
            raise ValueError(f"ACADEMY_PIN entry {part!r} is not name=version (e.g. ACADEMY_PIN=digits=v2)")
        pins[name.strip()] = version.strip()
    return pins


class ModelServer:
    """Every servable model of a registry, loaded once. ``errors`` lists what could not be loaded
    (a broken card, an unknown task) so /readyz and the app can say why a model is missing."""

    def __init__(self, root: str | Path | None = None, pins: dict[str, str] | None = None):
        self.root = Path(root or registry.default_root())
        self.pins = dict(parse_pins(os.environ.get("ACADEMY_PIN")) if pins is None else pins)
        self.models: dict[str, ServedModel] = {}
        self.errors: dict[str, str] = {}
        self.loaded_at: float | None = None

    def load(self) -> ModelServer:
        cards = registry.list_cards(self.root)
        names = {c["name"] for c in cards} | set(self.pins)
        for name in sorted(names):
            try:
                model, card = registry.load(name, self.pins.get(name), self.root)
            except registry.RegistryError as e:
                self.errors[name] = str(e)
                continue
            task = card.get("task")
            if task not in HANDLERS:
                self.errors[name] = f"task {task!r} has no handler in app.serving.HANDLERS (known: {sorted(HANDLERS)})"
                continue
            handler = HANDLERS[task]
            self.models[name] = ServedModel(name, card, model.eval(), handler, handler.compile(model.eval()))
        self.loaded_at = time.time()
        return self

    @property
    def ready(self) -> bool:
        return self.loaded_at is not None and bool(self.models)

    def get(self, name: str) -> ServedModel:
        served = self.models.get(name)
        if served is None:
            known = ", ".join(sorted(self.models)) or "none"
            why = f" ({self.errors[name]})" if name in self.errors else ""
            raise ServingError(404, "model_not_found",
                               f"no model named {name[:64]!r} is served{why}; served models: {known}. "
                               f"GET /v1/models lists them")
        return served

    def cards(self) -> list[dict]:
        return [m.card for m in self.models.values()]

    def predict(self, name: str, body: Any) -> dict:
        return self.get(name).predict(body)


