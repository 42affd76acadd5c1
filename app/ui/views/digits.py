"""Digits: draw or upload a digit (or click an example) → top-3 probabilities, the 8×8 input the model
saw, the first conv layer's feature maps. Every number comes from the serving client (in process or
the HTTP API); the 8×8 input is ``image_to_ink``'s output, returned by the predict call (``explain``)."""

import hashlib

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image

from app.client import png_base64
from app.serving import ServingError, decode_png
from app.ui.common import get_client, headline, load_cards, no_models_note

INPUT_KEY = "digits_input"        # {"image": 2-D uint8 array, "source": str}; tests set it directly
CANVAS = 280


def set_input(image: np.ndarray, source: str) -> None:
    st.session_state[INPUT_KEY] = {"image": np.asarray(image, dtype=np.uint8), "source": source}


@st.cache_data(show_spinner=False)
def examples() -> list[tuple[int, np.ndarray]]:
    """The first test-split digit of each class, as a 64×64 0–255 picture (what a drawing looks like)."""
    from academy.data import digits

    test = digits.load(0).test
    out = []
    for label in range(10):
        i = int(np.flatnonzero(test.labels == label)[0])
        out.append((label, np.kron(np.clip(test.images[i] * 16, 0, 255), np.ones((8, 8))).astype(np.uint8)))
    return out


def canvas_image(result) -> np.ndarray | None:
    """The canvas as a 2-D 0–255 array (white ink on black), or None when nothing is drawn."""
    try:
        rgba = result.image_data
    except RuntimeError:
        return None
    if rgba is None or rgba.ndim != 3:
        return None
    gray = rgba[..., :3].astype(np.float32).mean(-1)
    if rgba.shape[-1] == 4:
        gray *= rgba[..., 3] / 255.0           # transparent pixels are background
    return gray.astype(np.uint8) if (gray > 64).sum() >= 20 else None


def enlarge(a: np.ndarray, side: int) -> Image.Image:
    return Image.fromarray(a.astype(np.uint8)).resize((side, side), Image.NEAREST)


def feature_grid(maps: np.ndarray, cell: int = 48, gap: int = 4, per_row: int = 8) -> Image.Image:
    """(C, 8, 8) activations → one picture, each map scaled to its own range (viridis)."""
    from matplotlib import colormaps

    c = len(maps)
    rows = (c + per_row - 1) // per_row
    grid = np.full((rows * (cell + gap) - gap, per_row * (cell + gap) - gap, 3), 255, dtype=np.uint8)
    cmap = colormaps["viridis"]
    for k, m in enumerate(maps):
        lo, hi = float(m.min()), float(m.max())
        norm = (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)
        rgb = (cmap(norm)[..., :3] * 255).astype(np.uint8)
        big = np.asarray(Image.fromarray(rgb).resize((cell, cell), Image.NEAREST))
        r, col = divmod(k, per_row)
        grid[r * (cell + gap): r * (cell + gap) + cell, col * (cell + gap): col * (cell + gap) + cell] = big
    return Image.fromarray(grid)


st.title(":material/draw: Digits")
client = get_client()
models = [c for c in load_cards(client) if c.get("task") == "digits"]
if not models:
    no_models_note(client, "digits")
    st.stop()
names = [c["name"] for c in models]
name = st.selectbox("Model", names, key="digits_model") if len(names) > 1 else names[0]
card = next(c for c in models if c["name"] == name)
st.caption(f"`{card['name']}` {card['version']} · {headline(card)} · serving {client.where}")

col_in, col_out = st.columns([1, 1], gap="large")
with col_in:
    draw_tab, upload_tab = st.tabs(["Draw", "Upload"])
    with draw_tab:
        from streamlit_drawable_canvas import st_canvas

        result = st_canvas(stroke_width=22, stroke_color="#FFFFFF", background_color="#000000", width=CANVAS,
                           height=CANVAS, drawing_mode="freedraw", return_image_data=True, key="digits_canvas")
        drawn = canvas_image(result)
        if drawn is not None:
            digest = hashlib.md5(drawn.tobytes()).hexdigest()
            if digest != st.session_state.get("canvas_digest"):
                st.session_state["canvas_digest"] = digest
                set_input(drawn, "your drawing")
        st.caption("Draw one digit, large, in the middle. The toolbar under the canvas undoes or clears it.")
    with upload_tab:
        upload = st.file_uploader("An image of one digit (PNG or JPEG, at most 512×512)",
                                  type=["png", "jpg", "jpeg", "bmp", "gif", "webp"], key="digits_upload")
        if upload is not None and upload.file_id != st.session_state.get("upload_id"):
            st.session_state["upload_id"] = upload.file_id
            try:
                import base64

                set_input(decode_png(base64.b64encode(upload.getvalue()).decode()), f"upload {upload.name}")
            except ServingError as e:
                st.error(e.message)

    st.markdown("**Examples** — digits from the test split, one click away:")
    ex_cols = st.columns(5) + st.columns(5)
    for (label, picture), col in zip(examples(), ex_cols, strict=True):
        with col:
            st.image(enlarge(picture, 48))
            st.button(str(label), key=f"example_{label}", on_click=set_input, args=(picture, f"test digit {label}"),
                      width="stretch")

with col_out:
    current = st.session_state.get(INPUT_KEY)
    if current is None:
        st.info("Draw a digit, upload an image or click an example to see the prediction.")
        st.stop()
    try:
        out = client.predict(name, {"png": png_base64(current["image"]), "explain": True})
    except ServingError as e:
        st.error(e.message)
        st.stop()
    top = out["top3"]
    st.metric(f"Prediction for {current['source']}", str(out["label"]))
    st.caption(f"{top[0]['probability']:.1%} probability · model `{out['model']}` {out['version']}")
    frame = pd.DataFrame({"digit": [str(t["label"]) for t in top], "probability": [t["probability"] for t in top]})
    bars = (alt.Chart(frame).mark_bar()
            .encode(x=alt.X("probability:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
                    y=alt.Y("digit:N", sort="-x", title="top 3"),
                    tooltip=["digit", alt.Tooltip("probability:Q", format=".1%")]))
    text = bars.mark_text(align="left", dx=4).encode(text=alt.Text("probability:Q", format=".1%"))
    st.altair_chart((bars + text).properties(height=150), width="stretch")

    seen, fm = st.columns([1, 2])
    with seen:
        ink = np.asarray(out["input_8x8"], dtype=np.float32)
        st.image(enlarge(ink / 16.0 * 255.0, 160), caption="the 8×8 input the model saw (ink 0–16)")
        st.image(enlarge(current["image"], 160) if current["image"].shape[0] < 160
                 else Image.fromarray(current["image"]).resize((160, 160)), caption="what you gave it")
    with fm:
        maps = np.asarray(out["feature_maps"], dtype=np.float32)
        st.image(feature_grid(maps), caption=f"first conv layer: {len(maps)} feature maps (8×8 each, "
                                             "bright = strong activation)")
    with st.expander("All ten probabilities"):
        st.bar_chart(pd.DataFrame({"probability": out["probabilities"]}, index=[str(d) for d in range(10)]))
