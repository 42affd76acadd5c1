"""The Streamlit app (``python -m app.ui --port P`` = ``make app``): Home, one page per task, Model cards."""
