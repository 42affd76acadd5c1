"""Same scores as plain ``nbgrader autograde`` on honest submissions, side by side."""

import json
import os
import shutil
import subprocess

import pytest
from grader_helpers import VENV_BIN, _env

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def nbgrader_scores(course, release, notebooks, tmp_path_factory):
    root = tmp_path_factory.mktemp("nbg-autograde") / "course101"
    shutil.copytree(course, root)
    for student, nb in notebooks.items():
        d = root / "submitted" / student / "ps1"
        d.mkdir(parents=True)
        (d / "problem1.ipynb").write_text(json.dumps(nb))
        shutil.copy(release / "problem2.ipynb", d / "problem2.ipynb")
    p = subprocess.run([os.path.join(VENV_BIN, "nbgrader"), "autograde", "ps1", "--force",
                        "--Execute.kernel_name=python3"], cwd=root, capture_output=True, text=True, env=_env(),
                       timeout=900)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root}/gradebook.db") as gb:
        return {s: (gb.find_submission("ps1", s).score, gb.find_submission("ps1", s).max_score,
                    {g.name: g.score for nbk in gb.find_submission("ps1", s).notebooks for g in nbk.grades
                     if g.auto_score is not None and g.cell_type == "code"})
                for s in notebooks}


def test_same_scores_as_nbgrader_autograde(nbgrader_scores, honest_results):
    print("\nsubmission   nbgrader autograde   hosted grader")
    for kind, res in honest_results.items():
        nb_score, nb_max, _ = nbgrader_scores[kind]
        print(f"{kind:<12} {nb_score:>6g} / {nb_max:<10g} {res['score']:>6g} / {res['max_score']:g}")
    for kind, res in honest_results.items():
        nb_score, nb_max, per_cell = nbgrader_scores[kind]
        assert res["score"] == pytest.approx(nb_score), kind
        assert res["max_score"] == pytest.approx(nb_max), kind
        mine = {t["grade_id"]: t["points"] for t in res["tests"]}
        for gid, pts in per_cell.items():
            if gid in mine:
                assert mine[gid] == pytest.approx(pts), (kind, gid)
