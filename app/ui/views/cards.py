"""Model cards: metrics beside their baselines, the data, the training parameters, the raw card."""

import pandas as pd
import streamlit as st

from app.ui.common import get_client, kv_table, load_cards, no_models_note, split_metrics

st.title(":material/badge: Model cards")
client = get_client()
cards = load_cards(client)
if not cards:
    no_models_note(client)
    st.stop()

names = [c["name"] for c in cards]
name = st.selectbox("Model", names, index=0, key="card_model")
card = next(c for c in cards if c["name"] == name)
st.markdown(f"### `{card['name']}` {card['version']} · task `{card.get('task')}` · architecture "
            f"`{card.get('architecture')}`")
st.caption(f"created {card.get('created_at')} · git {card.get('git_commit')} · "
           + " · ".join(f"{k} {v}" for k, v in card.get("versions", {}).items()))

own, others = split_metrics(card.get("metrics", {}))
st.subheader("Metrics beside their baselines")
reference = own.get("test_accuracy")
rows = []
for kind, group in (("this model", own), ("baseline", others)):
    for k, v in group.items():
        row = {"metric": k, "kind": kind, "value": v}
        if isinstance(v, int | float) and isinstance(reference, int | float) and "accuracy" in k:
            row["gap (pp)"] = round(100 * (reference - v), 2)
        rows.append(row)
table = pd.DataFrame(rows)
left, right = st.columns([3, 2], gap="large")
with left:
    st.dataframe(table, hide_index=True, width="stretch",
                 column_config={"value": st.column_config.NumberColumn(format="%.4f")})
    st.caption("gap = this model's test accuracy − the row's value, in percentage points (positive: the model "
               "beats it). Baselines are measured in the same run, on the same split.")
with right:
    acc = pd.DataFrame([{"metric": r["metric"], "kind": r["kind"], "accuracy": float(r["value"])} for r in rows
                        if "accuracy" in r["metric"] and isinstance(r["value"], int | float)])
    if not acc.empty:
        st.bar_chart(acc, x="metric", y="accuracy", color="kind", horizontal=True, sort="-accuracy",
                     height=60 * len(acc) + 110, x_label="", y_label="accuracy")

data_col, train_col = st.columns(2, gap="large")
with data_col:
    st.subheader("Data")
    kv_table(card.get("dataset", {}))
with train_col:
    st.subheader("Training")
    kv_table(card.get("training", {}))
st.subheader("Architecture config")
kv_table(card.get("config", {}))
with st.expander("The whole card (card.json)"):
    st.code(__import__("json").dumps(card, indent=2), language="json")
