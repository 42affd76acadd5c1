"""Keep a stuck learner going: use their function if it works, else the library's with a visible note.

Each later stage of a notebook asks ``use_or_reference(mine, reference, probe)``: ``probe`` runs a
function on fixed inputs; if the learner's function raises (``NotImplementedError`` in the released
notebook) or disagrees with the reference on the probe, the reference is returned and the notebook
says so. On the solved notebook (papermill, CI) the learner's function is the one used.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def same(a: Any, b: Any, atol: float = 1e-6, rtol: float = 1e-5) -> bool:
    """Numbers, arrays, tensors, and tuples/lists/dicts of them, equal up to tolerance."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k], atol, rtol) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple) and not _numeric_seq(a, b):
        return len(a) == len(b) and all(same(x, y, atol, rtol) for x, y in zip(a, b, strict=True))
    try:
        x, y = _array(a), _array(b)
    except (TypeError, ValueError):
        return a == b
    if x.shape != y.shape:
        return False
    if x.dtype.kind in "fc" or y.dtype.kind in "fc":
        return bool(np.allclose(x, y, atol=atol, rtol=rtol))
    return bool(np.array_equal(x, y))


def _numeric_seq(a, b) -> bool:
    return all(isinstance(v, int | float) for v in (*a, *b))


def _array(v: Any) -> np.ndarray:
    if hasattr(v, "detach"):             # a torch tensor
        v = v.detach().cpu().numpy()
    arr = np.asarray(v)
    if arr.dtype == object:
        raise TypeError("not numeric")
    return arr


def use_or_reference(mine: Callable, reference: Callable, probe: Callable[[Callable], Any], name: str | None = None,
                     atol: float = 1e-6) -> Callable:
    """``mine`` if ``probe(mine)`` runs and equals ``probe(reference)``, otherwise ``reference`` (with a note)."""
    label = name or getattr(mine, "__name__", "your function")
    where = f"{reference.__module__}.{getattr(reference, '__name__', 'reference')}"
    try:
        got = probe(mine)
        if same(got, probe(reference), atol=atol):
            print(f"✓ {label}: your implementation agrees with the reference, using yours")
            return mine
        reason = "its result differs from the reference on a probe input"
    except NotImplementedError:
        reason = "it is not implemented yet"
    except Exception as e:  # noqa: BLE001 - any learner error means: fall back
        reason = f"it raised {type(e).__name__}: {e}"
    print(f"→ {label}: using the reference implementation from {where} ({reason})")
    return reference


# ----------------------------------------------------------------------------- fixed probes the graded cells use
# Test cells import these so each cell is self-contained (numpy, torch and academy only).

def step_fixture(seed: int = 0):
    """(tiny deterministic DigitsCNN without dropout, SGD with momentum, one fixed batch of 32 real digits)."""
    import torch

    from academy.data import digits
    from academy.models import DigitsCNN, DigitsCNNConfig

    x, y = digits.load(0).train.tensors()
    torch.manual_seed(seed)
    model = DigitsCNN(DigitsCNNConfig(channels=(4, 4, 4), hidden=8, dropout=0.0))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return model, opt, (x[:32], y[:32])


def train_step_probe(step_fn: Callable, n_steps: int = 1, seed: int = 0):
    """Run ``step_fn`` ``n_steps`` times on ``step_fixture(seed)``: (losses as floats, all parameters flattened)."""
    import torch

    model, opt, batch = step_fixture(seed)
    losses = [float(step_fn(model, batch, opt)) for _ in range(n_steps)]
    return losses, torch.cat([p.detach().flatten() for p in model.parameters()])


def export_probe(export_fn: Callable) -> dict:
    """Export a tiny fixed model with ``export_fn`` into a temporary registry; what a registry user then sees.

    Everything is read back through the folder ``export_fn`` returned (its files' names, text and
    bytes), never by building paths of our own: under the hosted grader the learner's code runs in
    a sandbox with its own filesystem and the returned folder is a handle into it, while in a
    notebook it is simply a ``Path``. The checks are the registry's own: LATEST, the card, the
    SHA-256 and a strict load of every tensor into the architecture the card names.
    """
    import hashlib
    import json
    import tempfile
    from pathlib import Path

    import torch
    from safetensors.torch import load as load_safetensors

    from academy.models import DigitsCNN, DigitsCNNConfig, build

    torch.manual_seed(0)
    tiny = DigitsCNN(DigitsCNNConfig(channels=(2, 2, 2), hidden=4)).eval()
    x = torch.linspace(-1, 1, 64).reshape(1, 1, 8, 8)
    with tempfile.TemporaryDirectory() as tmp:
        folder = export_fn(tiny, {"test_accuracy": 0.5, "svc_test_accuracy": 0.4, "train_seconds": 1.0},
                           {"name": "digits"}, {"epochs": 1}, root=tmp)
        if isinstance(folder, str):
            folder = Path(folder)
        files = sorted(str(p.name) for p in folder.iterdir())
        card = json.loads(str(folder.joinpath("card.json").read_text()))
        weights = bytes(folder.joinpath("weights.safetensors").read_bytes())
        latest = str(folder.parent.joinpath("LATEST").read_text()).strip()
        loaded = build(card["architecture"], card["config"]).eval()
        loaded.load_state_dict(load_safetensors(weights), strict=True)
        with torch.no_grad():
            same_outputs = bool(torch.allclose(loaded(x), tiny(x)))
        return {"folder": str(folder.name), "latest": latest, "name": card["name"], "metrics": card["metrics"],
                "same": same_outputs and hashlib.sha256(weights).hexdigest() == card.get("weights_sha256"),
                "files": files}
