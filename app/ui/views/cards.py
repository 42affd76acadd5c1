"""Model cards: metrics beside their baselines, the data, the training parameters, the raw card."""

import pandas as pd
import streamlit as st

from app.ui.common import flat, get_client, is_number, kv_table, load_cards, metric_kind, no_models_note

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

metrics = flat(card.get("metrics", {}))
reference = metrics.get("test_accuracy")
rows, info = [], {}
for key, value in metrics.items():
    kind = metric_kind(key)
    if kind == "run info" or not is_number(value):
        info[key] = value
        continue
    row = {"metric": key, "kind": kind, "value": float(value)}
    if is_number(reference) and "accuracy" in key:
        row["gap (pp)"] = round(100 * (reference - value), 2)
    rows.append(row)
order = {"this model": 0, "baseline": 1, "comparison": 2}
rows.sort(key=lambda r: order[r["kind"]])

st.subheader("Metrics beside their baselines")
pairs = []        # this model's test_accuracy beside svc_test_accuracy, and so on
for r in rows:
    if r["kind"] == "this model":
        twins = {b["metric"].removesuffix(r["metric"]).rstrip("_"): b["value"] for b in rows
                 if b["kind"] == "baseline" and b["metric"].endswith("_" + r["metric"])}
        if twins:
            pairs.append({"metric": r["metric"], "this model": r["value"], **twins})
if pairs:
    st.dataframe(pd.DataFrame(pairs), hide_index=True,
                 column_config={k: st.column_config.NumberColumn(format="%.4g") for k in pairs[0] if k != "metric"})
left, right = st.columns([3, 2], gap="large")
with left:
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch",
                 column_config={"value": st.column_config.NumberColumn(format="%.4g")})
    st.caption("gap = this model's test accuracy − the row's value, in percentage points (positive: the model "
               "beats it). Baselines are measured in the same run, on the same split.")
with right:
    acc = pd.DataFrame([{"metric": r["metric"], "kind": r["kind"], "accuracy": r["value"]} for r in rows
                        if "accuracy" in r["metric"] and 0 <= r["value"] <= 1])
    if not acc.empty:
        st.bar_chart(acc, x="metric", y="accuracy", color="kind", horizontal=True, sort="-accuracy",
                     height=40 * len(acc) + 110, x_label="", y_label="accuracy")
if info:
    with st.expander("Run info recorded with the metrics"):
        kv_table(info)

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
