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
