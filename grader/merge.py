"""Build the cell plan for one notebook from the instructor's source, the release and the
learner's submission (what nbgrader's OverwriteCells / restore steps do, but stricter).

* Cells are matched by nbgrader ``grade_id`` against the SOURCE, never by the learner's metadata.
* Test cells (grade, not solution) and locked / read-only code cells come from the source
  (hidden tests included); points and flags come from the source too.
* Solution cells take the learner's code (first cell with that grade_id; the release stub if
  the learner deleted it). Duplicates of a known grade_id are dropped.
* Learner cells without a known grade_id are the learner's own code: they run where the
  learner put them (after the known cell that precedes them). Their nbgrader metadata is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field

HIDDEN_MARK = "BEGIN HIDDEN TESTS"


def _meta(cell) -> dict:
    md = cell.get("metadata") or {}
    nb = md.get("nbgrader") if isinstance(md, dict) else None
    return nb if isinstance(nb, dict) else {}


def _src(cell) -> str:
    s = cell.get("source", "")
    if isinstance(s, list):
        s = "".join(x for x in s if isinstance(x, str))
    return s if isinstance(s, str) else ""


@dataclass
class Test:
    grade_id: str
    points: float
    source: str
    hidden: bool


@dataclass
class Plan:
    steps: list = field(default_factory=list)   # ("run", src) | ("test", Test)
    tests: list = field(default_factory=list)
    max_score: float = 0.0


def build_plan(source_nb: dict, release_nb: dict | None, learner_nb: dict | None) -> Plan:
    plan = Plan()
    src_cells = source_nb.get("cells", [])
    known: dict[str, dict] = {}
    for c in src_cells:
        gid = _meta(c).get("grade_id")
        if gid:
            known.setdefault(str(gid), c)
    release_by_id = {}
    for c in (release_nb or {}).get("cells", []):
        gid = _meta(c).get("grade_id")
        if gid and str(gid) not in release_by_id:
            release_by_id[str(gid)] = c

    learner_by_id: dict[str, dict] = {}
    extras: dict[str | None, list[str]] = {None: []}
    anchor = None
    if learner_nb is not None:
        for c in learner_nb.get("cells", []):
            if not isinstance(c, dict):
                continue
            gid = _meta(c).get("grade_id")
            gid = str(gid) if gid is not None else None
            if gid in known:
                if gid not in learner_by_id:
                    learner_by_id[gid] = c
                    anchor = gid
                continue  # a duplicate of a known cell: ignored
            if c.get("cell_type") == "code":
                extras.setdefault(anchor, []).append(_src(c))
    else:
        # no submission for this notebook: the release as handed out (stubs only)
        for c in (release_nb or source_nb).get("cells", []):
            gid = _meta(c).get("grade_id")
            if not gid and c.get("cell_type") == "code":
                extras.setdefault(anchor, []).append(_src(c))
            elif gid:
                anchor = str(gid)

    plan.steps += [("run", s) for s in extras.get(None, [])]
    seen = set()
    for c in src_cells:
        md = _meta(c)
        gid = md.get("grade_id")
        if not gid or str(gid) in seen:
            continue
        gid = str(gid)
        seen.add(gid)
        grade, solution, task = bool(md.get("grade")), bool(md.get("solution")), bool(md.get("task"))
        try:
            points = float(md.get("points", 0) or 0)
        except (TypeError, ValueError):
            points = 0.0
        if grade or task:
            plan.max_score += points
        if c.get("cell_type") == "code":
            if grade and not solution:
                t = Test(gid, points, _src(c), HIDDEN_MARK in _src(c))
                plan.tests.append(t)
                plan.steps.append(("test", t))
            elif solution:
                mine = learner_by_id.get(gid)
                if mine is not None and mine.get("cell_type") == "code":
                    plan.steps.append(("run", _src(mine)))
                elif gid in release_by_id:
                    plan.steps.append(("run", _src(release_by_id[gid])))
            else:  # locked / read-only instructor code
                plan.steps.append(("run", _src(c)))
        plan.steps += [("run", s) for s in extras.get(gid, [])]
    return plan
