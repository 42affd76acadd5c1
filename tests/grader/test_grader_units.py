"""Fast unit tests: the wire format rejects what it must, the cell plan ignores learner metadata,
and grading refuses to run unsandboxed unless the instructor opted out."""

import copy
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from grader import merge, sandbox, wire
from grader.config import Settings
from grader.worker import SandboxUnavailable, check_sandbox


@pytest.mark.parametrize("value", [None, True, 3, -2**70, 1.5, float("inf"), 2j, "s", b"\x00b", [1, [2]], (1, "a"),
                                   {"a": 1, 2: (3,)}, {1, 2}, frozenset({3}), np.arange(6).reshape(2, 3),
                                   np.float32(1.5), np.int64(7), np.array([True, False])])
def test_wire_roundtrip_exact_types(value):
    back = wire.decode(json.loads(json.dumps(wire.encode(value))))
    assert type(back) is type(value)
    if isinstance(value, np.ndarray):
        assert back.dtype == value.dtype and np.array_equal(back, value)
    else:
        assert back == value


def test_wire_refuses_objects_and_malformed_frames():
    class Eq:
        def __eq__(self, o):
            return True

    with pytest.raises(wire.NotData):
        wire.encode(Eq())
    with pytest.raises(wire.NotData):
        wire.encode(np.array([Eq()], dtype=object))
    with pytest.raises(wire.NotData):
        wire.encode([1, Eq()])

    class MyInt(int):
        pass

    with pytest.raises(wire.NotData):  # subclasses of built-ins are not data
        wire.encode(MyInt(3))
    bad = [[1, 2], {"$l": [1], "$t": [2]}, {"$nd": ["|O", [1], "AA=="]}, {"$nd": ["<f8", [10], "AA=="]},
           {"$nd": ["<f8", [10 ** 12], ""]}, {"$unknown": 1}, {"$r": 1}, {"$x": "1e999"}, {"$d": [[{"$l": []}, 1]]}]
    for b in bad:
        with pytest.raises(wire.ProtocolError):
            wire.decode(b)
    deep = 1
    for _ in range(100):
        deep = {"$l": [deep]}
    with pytest.raises(wire.ProtocolError):
        wire.decode(deep)


def _nb(cells):
    return {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def _c(src, **nbg):
    c = {"cell_type": "code", "source": src, "metadata": {}, "outputs": [], "execution_count": None}
    if nbg:
        c["metadata"]["nbgrader"] = nbg
    return c


def test_plan_takes_tests_and_points_from_source():
    source = _nb([_c("def f(): return 1", grade_id="f", solution=True, grade=False),
                  _c("assert f() == 1\n### BEGIN HIDDEN TESTS\nassert f() + 1 == 2\n### END HIDDEN TESTS",
                     grade_id="t", grade=True, solution=False, points=2),
                  _c("LOCKED = 1", grade_id="lock", locked=True, grade=False, solution=False)])
    release = _nb([_c("def f(): raise NotImplementedError", grade_id="f", solution=True, grade=False),
                   _c("assert f() == 1", grade_id="t", grade=True, solution=False, points=2),
                   _c("LOCKED = 1", grade_id="lock", locked=True, grade=False, solution=False)])
    learner = copy.deepcopy(release)
    learner["cells"][0]["source"] = "def f(): return 1"
    learner["cells"][1]["source"] = "pass"                                # test replaced
    learner["cells"][1]["metadata"]["nbgrader"]["points"] = 100           # points edited
    learner["cells"][2]["source"] = "LOCKED = 2"                          # locked cell edited
    learner["cells"].append(copy.deepcopy(learner["cells"][1]))           # duplicated test
    learner["cells"].append(_c("x = 1", grade_id="t2", grade=True, solution=False, points=50))  # invented test
    plan = merge.build_plan(source, release, learner)
    assert [(t.grade_id, t.points, t.hidden) for t in plan.tests] == [("t", 2.0, True)]
    runs = [s for k, s in plan.steps if k == "run"]
    assert "def f(): return 1" in runs and "LOCKED = 1" in runs and "LOCKED = 2" not in runs
    assert "x = 1" in runs                         # the invented "test" is just learner code
    assert plan.max_score == 2.0
    deleted = copy.deepcopy(learner)
    deleted["cells"] = [c for c in deleted["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") != "t"]
    assert [t.grade_id for t in merge.build_plan(source, release, deleted).tests] == ["t"]


def test_refuses_without_bubblewrap(monkeypatch, tmp_path):
    monkeypatch.setattr(sandbox, "BWRAP", str(tmp_path / "no-bwrap"))
    s = Settings.load(str(tmp_path))
    with pytest.raises(SandboxUnavailable):
        check_sandbox(s)
    s.allow_unsandboxed = True
    assert check_sandbox(s) is False


def test_unsandboxed_opt_out_still_checks_outside(tmp_path, course, notebooks):
    """Without the sandbox the tests still run in the checker: an always-true __eq__ scores 0."""
    from grader import assignments

    data = tmp_path / "d"
    assignments.add(str(data), str(course / "source" / "ps1"))
    adir = data / "assignments" / "ps1"
    cheat = copy.deepcopy(notebooks["unsolved"])
    for c in cheat["cells"]:
        if c["metadata"].get("nbgrader", {}).get("grade_id") == "squares":
            c["source"] = "class Y:\n    def __eq__(s, o): return True\ndef squares(n): return Y()"
    results, messages = {}, {}
    for name, nb in (("solved", notebooks["solved"]), ("cheat", cheat), ("cheat_types", cheat)):
        p = tmp_path / f"{name}.ipynb"
        p.write_text(json.dumps(nb))
        job = {"notebooks": [{"name": "problem1.ipynb", "source": str(adir / "source" / "problem1.ipynb"),
                              "release": str(adir / "release" / "problem1.ipynb"), "submission": str(p)}],
               "files_dir": str(adir / "release"), "limits": {"wall_seconds": 60}, "sandbox": False,
               "feedback_detail": "types" if name.endswith("types") else "full"}
        out = subprocess.run([sys.executable, "-m", "grader.checker"], input=json.dumps(job), text=True,
                             capture_output=True, timeout=300, cwd=os.path.dirname(os.path.dirname(sandbox.HERE)))
        assert out.returncode == 0, out.stderr
        results[name] = json.loads(out.stdout)["score"]
        messages[name] = [t["message"] for t in json.loads(out.stdout)["tests"]]
    assert results == {"solved": 4.0, "cheat": 0.0, "cheat_types": 0.0}
    assert any(":" in m for m in messages["cheat"])            # public tests explain the failure
    assert all(m.endswith("(details hidden)") for m in messages["cheat_types"])


STEP_SOLUTION = '''import torch

def step(model, x, opt):
    ### BEGIN SOLUTION
    opt.zero_grad()
    loss = model(x).pow(2).mean()
    loss.backward()
    opt.step()
    return float(loss)
    ### END SOLUTION'''
STEP_TEST = '''import torch
torch.manual_seed(0)
m = torch.nn.Linear(3, 1)
o = torch.optim.SGD(m.parameters(), lr=0.1)
m2 = torch.nn.Linear(3, 1)
m2.load_state_dict(m.state_dict())
o2 = torch.optim.SGD(m2.parameters(), lr=0.1)
x = torch.ones(2, 3)
for _ in range(2):   # the test's own model and optimizer go in; their updated state comes back
    loss = step(m, x, o)
    o2.zero_grad(); ref = m2(x).pow(2).mean(); ref.backward(); o2.step()
    assert abs(loss - ref.item()) < 1e-6
assert torch.allclose(m.weight, m2.weight) and torch.allclose(m.bias, m2.bias)'''


@pytest.mark.slow
def test_test_made_torch_objects_round_trip(tmp_path):
    """A test passing its own model/optimizer to learner code (as the cnn track does) grades like nbgrader."""
    from grader import assignments

    src = tmp_path / "src" / "torchy"
    src.mkdir(parents=True)
    nb = _nb([_c(STEP_SOLUTION, grade_id="step", solution=True, grade=False, locked=False, schema_version=3),
              _c(STEP_TEST, grade_id="t_step", solution=False, grade=True, locked=True, points=1, schema_version=3)])
    nb["metadata"] = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    (src / "step.ipynb").write_text(json.dumps(nb))
    data = tmp_path / "d"
    assignments.add(str(data), str(src))
    adir = data / "assignments" / "torchy"
    scores = {}
    for kind, path in (("solved", adir / "source" / "step.ipynb"), ("unsolved", adir / "release" / "step.ipynb")):
        job = {"notebooks": [{"name": "step.ipynb", "source": str(adir / "source" / "step.ipynb"),
                              "release": str(adir / "release" / "step.ipynb"), "submission": str(path)}],
               "files_dir": str(adir / "release"), "limits": {"wall_seconds": 120}, "sandbox": True, "uid": 61111}
        out = subprocess.run([sys.executable, "-m", "grader.checker"], input=json.dumps(job), text=True,
                             capture_output=True, timeout=300, cwd=os.path.dirname(os.path.dirname(sandbox.HERE)))
        assert out.returncode == 0, out.stderr
        scores[kind] = json.loads(out.stdout)["score"]
    assert scores == {"solved": 1.0, "unsolved": 0.0}
