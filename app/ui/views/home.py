"""Home: what the course is, how to start learning, the models on offer."""

import streamlit as st

from academy.harness import NOTEBOOKS_DIR, discover
from app.ui.common import TASK_PAGES, get_client, headline, load_cards, no_models_note

st.title(":material/school: AIaaS Academy")
st.markdown(
    "A notebook-first deep-learning course whose trained models run as a live service. Each track starts "
    "from first principles (you write the layer, the loss, the training loop), checks your version against "
    "the library's, then trains a real model, exports it to the **model registry** and serves it here — "
    "through the same inference API you can call with `curl`."
)

left, right = st.columns([3, 2], gap="large")
with left:
    st.subheader("Start learning")
    st.markdown(
        "1. `make setup` — a `.venv` with the pinned CPU torch and the course library.\n"
        "2. `make lab` — JupyterLab on the repository; open the notebooks below in order.\n"
        "3. Work through the exercises (`### BEGIN SOLUTION` regions); the public tests in each notebook "
        "tell you when you are right. A stuck exercise falls back to the library so you can go on.\n"
        "4. `make models` trains and exports the models; `make demo` serves them here."
    )
    notebooks = discover(NOTEBOOKS_DIR)
    if notebooks:
        by_track: dict[str, list[str]] = {}
        for nb in notebooks:
            by_track.setdefault(nb.parent.name, []).append(nb.stem)
        for track, stages in by_track.items():
            st.markdown(f"**{track}** track: " + " → ".join(f"`{s}`" for s in stages))
    else:
        st.caption(f"No notebooks found under {NOTEBOOKS_DIR} yet.")

with right:
    st.subheader("Try a model")
    for page in TASK_PAGES.values():
        st.page_link(page["page"], label=f"{page['title']}: {page['blurb']}",
                       icon=page["icon"])
    st.page_link("views/cards.py", label="Model cards: metrics beside their baselines", icon=":material/badge:")

st.subheader("Models on offer")
client = get_client()
cards = load_cards(client)
if not cards:
    no_models_note(client)
for card in cards:
    with st.container(border=True):
        st.markdown(f"#### `{card['name']}` {card['version']} · task `{card.get('task', '?')}`")
        st.markdown(headline(card))
        d, t = card.get("dataset", {}), card.get("training", {})
        sizes = " / ".join(f"{k} {v}" for k, v in d.get("sizes", {}).items())
        st.caption(f"architecture `{card.get('architecture')}` · data {d.get('name', '?')} ({sizes}) · "
                   f"{t.get('epochs', '?')} epochs on {t.get('device', '?')} in {t.get('seconds', '?')} s · "
                   f"created {card.get('created_at', '?')}")
st.caption(f"Serving: {client.where}")
