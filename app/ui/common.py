"""What every page shares: the client (cached once per process), card helpers, the task → page table."""

from __future__ import annotations

import os

import streamlit as st

from app.client import Client, HttpClient, LocalClient
from app.serving import ServingError

# task → page file (relative to app/ui/main.py). A later track adds its page here; Home and Model
# cards list every model whatever its task.
TASK_PAGES: dict[str, dict] = {
    "digits": {"page": "views/digits.py", "title": "Digits", "icon": ":material/draw:",
               "blurb": "draw a digit, see what the net sees"},
}
# Keys of card["metrics"] that describe the model itself; every other number is a baseline or extra.
OWN_METRIC_PREFIXES = ("test_", "val_", "train_")


@st.cache_resource(show_spinner="Loading the models…")
def _client(api_url: str, models_root: str) -> Client:
    if api_url:
        return HttpClient(api_url)
    return LocalClient(models_root or None)


def get_client() -> Client:
    """The process-wide client for the current ``API_URL`` / ``ACADEMY_MODELS``."""
    return _client(os.environ.get("API_URL", "").strip(), os.environ.get("ACADEMY_MODELS", ""))


def load_cards(client: Client) -> list[dict]:
    try:
        return client.cards()
    except ServingError as e:
        st.error(e.message)
        return []


def no_models_note(client: Client, task: str | None = None) -> None:
    what = f"no `{task}` model is served" if task else "no model is served"
    st.warning(f"{what} ({client.where}). Build the models with `make models` (or run the export notebook), "
               "then restart the app.")
    for name, why in client.errors().items():
        st.caption(f"`{name}`: {why}")


METRIC_WORDS = ("accuracy", "loss", "error", "f1", "precision", "recall", "auc", "perplexity", "bleu")


def metric_kind(key: str) -> str:
    """"this model" (test_/val_/train_…), "comparison" (…_vs_…, ratios), "baseline" (another model's
    score, e.g. svc_test_accuracy) or "run info" (epochs, device, parameters, …)."""
    if key.startswith(OWN_METRIC_PREFIXES):
        return "this model"
    if "_vs_" in key or "ratio" in key:
        return "comparison"
    if any(w in key for w in METRIC_WORDS):
        return "baseline"
    return "run info"


def is_number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def headline(card: dict) -> str:
    """The test accuracy beside the baselines measured on the same split (…test_accuracy)."""
    m = flat(card.get("metrics", {}))
    acc = m.get("test_accuracy")
    base = {k: v for k, v in m.items() if metric_kind(k) == "baseline" and k.endswith("test_accuracy")
            and is_number(v)}
    text = f"test accuracy **{acc:.1%}**" if is_number(acc) else "no test accuracy recorded"
    if base:
        text += " · baselines: " + ", ".join(f"{k.removesuffix('test_accuracy').strip('_') or k} {v:.1%}"
                                             for k, v in base.items())
    return text


def flat(d: dict, prefix: str = "") -> dict:
    """{"sizes": {"train": 1}} → {"sizes.train": 1}: nested card entries as one table."""
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flat(v, key + "."))
        else:
            out[key] = v if isinstance(v, int | float | str | bool) or v is None else str(v)
    return out


def kv_table(d: dict) -> None:
    """A dict as a two-column table (values as text, so mixed types render cleanly)."""
    import pandas as pd

    items = flat(d)
    st.dataframe(pd.DataFrame({"key": list(items), "value": [str(v) for v in items.values()]}), hide_index=True,
                 width="stretch")
