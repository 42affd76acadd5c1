"""The model registry: ``models/<name>/<version>/{weights.safetensors, card.json}`` and ``models/<name>/LATEST``.

Loading never unpickles: weights are safetensors, the class comes from the architecture table,
the config passes ``config_from_dict`` and the weights' SHA-256 must match the card. Every
failure is a ``RegistryError`` that names the file and says what to do.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
import re
import subprocess
from pathlib import Path

import torch
import torch.nn as nn
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from academy.models import ARCHITECTURES, ConfigError, architecture_of, build
from academy.runtime import REPO_ROOT

NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
VERSION_RE = re.compile(r"^v[0-9]{1,6}$")
CARD_KEYS = ("name", "version", "architecture", "config", "metrics", "dataset", "training", "created_at",
             "git_commit", "versions")


class RegistryError(Exception):
    """A model cannot be saved or loaded; the message names the file and the fix."""


def default_root() -> Path:
    """``ACADEMY_MODELS`` if set, else ``models/`` at the repository root."""
    return Path(os.environ.get("ACADEMY_MODELS", REPO_ROOT / "models"))


def _check_name(name: str) -> None:
    if not NAME_RE.match(name or ""):
        raise RegistryError(f"model name {name!r} is not allowed: use lowercase letters, digits, '_' or '-'")


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                             text=True, timeout=5)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def versions(name: str, root: str | Path | None = None) -> list[str]:
    """Existing versions of ``name``, oldest first."""
    folder = Path(root or default_root()) / name
    found = [p.name for p in folder.iterdir() if p.is_dir() and VERSION_RE.match(p.name)] if folder.is_dir() else []
    return sorted(found, key=lambda v: int(v[1:]))


def save(model: nn.Module, name: str, *, metrics: dict, dataset: dict, training: dict,
         root: str | Path | None = None, extra: dict | None = None) -> Path:
    """Write a new version of ``name`` and point LATEST at it. Returns the version folder."""
    _check_name(name)
    root = Path(root or default_root())
    architecture = architecture_of(model)
    config = model.config.to_dict()
    build(architecture, config)   # the card we write must load again
    existing = versions(name, root)
    version = f"v{int(existing[-1][1:]) + 1 if existing else 1}"
    folder = root / name / version
    folder.mkdir(parents=True, exist_ok=False)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    weights = folder / "weights.safetensors"
    save_file(state, str(weights))
    card = {
        "name": name,
        "version": version,
        "architecture": architecture,
        "task": ARCHITECTURES[architecture].task,
        "config": config,
        "metrics": metrics,
        "dataset": dataset,
        "training": training,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "git_commit": _git_commit(),
        "versions": {"python": platform.python_version(), "torch": torch.__version__},
        "weights_sha256": _sha256(weights),
        **(extra or {}),
    }
    (folder / "card.json").write_text(json.dumps(card, indent=2, default=float) + "\n")
    tmp = root / name / "LATEST.tmp"
    tmp.write_text(version + "\n")
    os.replace(tmp, root / name / "LATEST")
    return folder


def resolve_version(name: str, version: str | None = None, root: str | Path | None = None) -> str:
    _check_name(name)
    root = Path(root or default_root())
    if version in (None, "", "latest", "LATEST"):
        latest = root / name / "LATEST"
        if not latest.is_file():
            raise RegistryError(f"{latest} is missing: no model {name!r} in {root}. Build it with `make models` "
                                f"(or run its export notebook)")
        version = latest.read_text().strip()
    if not VERSION_RE.match(version or ""):
        raise RegistryError(f"version {version!r} of {name!r} is not of the form v<N>: fix {root / name / 'LATEST'}")
    return version


def read_card(name: str, version: str | None = None, root: str | Path | None = None) -> dict:
    """The card of a version (LATEST by default), checked for the required keys."""
    root = Path(root or default_root())
    version = resolve_version(name, version, root)
    path = root / name / version / "card.json"
    if not path.is_file():
        raise RegistryError(f"{path} is missing: re-export the model (`make models`)")
    try:
        card = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RegistryError(f"{path} is not valid JSON ({e}): restore it or re-export the model") from e
    if not isinstance(card, dict):
        raise RegistryError(f"{path} must hold a JSON object: re-export the model")
    missing = [k for k in CARD_KEYS if k not in card]
    if missing:
        raise RegistryError(f"{path} lacks {missing}: re-export the model")
    if card["name"] != name or card["version"] != version:
        raise RegistryError(f"{path} says {card['name']}/{card['version']} but lies in {name}/{version}: "
                            f"the card was moved or edited; re-export the model")
    return card


def load(name: str, version: str | None = None, root: str | Path | None = None,
         device: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """(model in eval mode, card). Validates card, config, checksum and every tensor's name and shape."""
    root = Path(root or default_root())
    card = read_card(name, version, root)
    folder = root / name / card["version"]
    card_path, weights = folder / "card.json", folder / "weights.safetensors"
    try:
        model = build(card["architecture"], card["config"])
    except (ConfigError, TypeError) as e:
        raise RegistryError(f"{card_path}: {e}. The card was edited or is from another version; re-export") from e
    if not weights.is_file():
        raise RegistryError(f"{weights} is missing: re-export the model (`make models`)")
    expected = card.get("weights_sha256")
    if expected is not None and _sha256(weights) != expected:
        raise RegistryError(f"{weights} does not match the SHA-256 in {card_path}: the file is corrupt or was "
                            f"replaced; re-export the model")
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as e:
        raise RegistryError(f"{weights} is not a readable safetensors file ({e}): re-export the model") from e
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = str(e).splitlines()[0]
        raise RegistryError(f"{weights} does not fit the architecture in {card_path} ({first}): "
                            f"re-export the model") from e
    model.to(device).eval()
    return model, card


def list_cards(root: str | Path | None = None) -> list[dict]:
    """The LATEST card of every model in the registry; broken entries are reported, not hidden."""
    root = Path(root or default_root())
    cards = []
    if not root.is_dir():
        return cards
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and NAME_RE.match(p.name)):
        try:
            cards.append(read_card(folder.name, None, root))
        except RegistryError as e:
            cards.append({"name": folder.name, "error": str(e)})
    return cards
