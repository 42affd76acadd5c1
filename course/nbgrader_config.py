"""nbgrader configuration of the AIaaS Academy course (nbgrader 0.9.6).

The notebooks ARE the assignment source: assignment id = track (``cnn``, ``rnn``, ``attention``),
notebook ids = the stage files, so ``nbgrader generate_assignment cnn`` (run from this folder)
reads ``../notebooks/cnn/*.ipynb`` and writes the learner version to ``release/cnn/``.
``submitted/``, ``autograded/``, ``feedback/`` and ``gradebook.db`` live here too (all gitignored).

Set ``ACADEMY_NOTEBOOKS`` to use another source folder (tests point it at a temporary copy).
"""

import os

c = get_config()  # noqa: F821 - provided by traitlets when nbgrader loads this file

HERE = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.course_id = "aiaas-academy"
c.CourseDirectory.root = HERE
# An absolute source folder: nbgrader joins it with the root and keeps it as is.
c.CourseDirectory.source_directory = os.path.abspath(
    os.environ.get("ACADEMY_NOTEBOOKS") or os.path.join(HERE, os.pardir, "notebooks"))
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(HERE, "gradebook.db")
# Only the stage notebooks travel with the assignment (no executed copies, caches or data).
c.CourseDirectory.include = ["[0-9][0-9]_*.ipynb"]
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__"]


# What the learner sees in place of a solution and in autograded test cells.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Solved stages train a small CNN: allow a generous per-cell time when autograding.
c.Execute.timeout = 300
c.Execute.allow_errors = True
