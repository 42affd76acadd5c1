"""Streamlit entry: ``streamlit run app/ui/main.py`` (``python -m app.ui`` does it for you)."""

import streamlit as st

from app.ui.common import TASK_PAGES

st.set_page_config(page_title="AIaaS Academy", page_icon=":material/school:", layout="wide")

pages = [st.Page("views/home.py", title="Home", icon=":material/home:", default=True)]
pages += [st.Page(p["page"], title=p["title"], icon=p["icon"]) for p in TASK_PAGES.values()]
pages += [st.Page("views/cards.py", title="Model cards", icon=":material/badge:")]
st.navigation(pages).run()
