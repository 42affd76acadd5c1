"""HTML feedback. Built only from the stored per-test results (names, points, sanitized
messages): never from test-cell source, so hidden tests cannot appear in it."""

from __future__ import annotations

import datetime as dt
from html import escape


def _ts(t):
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat() if t else ""


def render(sub: dict) -> str:
    rows = []
    for t in sub.get("tests", []):
        ok = t.get("passed")
        rows.append(
            f"<tr class='{'pass' if ok else 'fail'}'><td>{escape(str(t.get('notebook', '')))}</td>"
            f"<td>{escape(str(t.get('grade_id', '')))}</td><td>{t.get('points', 0):g} / {t.get('max_points', 0):g}</td>"
            f"<td>{'passed' if ok else 'failed'}</td><td>{escape(str(t.get('message', '')))}</td></tr>")
    notes = "".join(f"<li>{escape(str(n))}</li>" for n in sub.get("notes", []))
    score = "pending" if sub.get("status") != "graded" else f"{sub.get('score', 0):g} / {sub.get('max_score', 0):g}"
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Feedback {escape(sub['id'])}</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{border:1px solid #ccc;padding:4px 8px}}
table{{border-collapse:collapse}}.pass{{background:#e8f5e9}}.fail{{background:#ffebee}}</style></head>
<body><h1>Feedback: {escape(sub['assignment'])}</h1>
<p>Learner: {escape(sub['learner'])} · submission {escape(sub['id'])} · status {escape(sub['status'])}
· submitted {_ts(sub.get('submitted_at'))} · graded {_ts(sub.get('graded_at'))}</p>
<p><b>Autograded score: {score}</b> (the maximum includes manually graded parts)</p>
<table><tr><th>notebook</th><th>test</th><th>points</th><th>result</th><th>message</th></tr>
{''.join(rows)}</table>{f'<ul>{notes}</ul>' if notes else ''}
<p>Messages of tests that contain hidden parts are reduced to the kind of failure.</p></body></html>"""
