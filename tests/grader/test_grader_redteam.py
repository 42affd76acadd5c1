"""Red team: malicious submissions. Each must score no more than the honest unsolved notebook,
leak no hidden test text, leave the service healthy, and not disturb the next honest submission."""

import copy
import json
import re
from pathlib import Path

import httpx
import pytest
from grader_helpers import EXPECTED, HIDDEN, HIDDEN_NP, nb_bytes

CHECKER = str(Path(__file__).resolve().parents[2] / "grader" / "checker.py")  # must stay unreadable

pytestmark = pytest.mark.slow


def _set(nb, gid, source):
    for c in nb["cells"]:
        if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == gid:
            c["source"] = source
            return nb
    raise KeyError(gid)


def _append(nb, source):
    nb["cells"].append({"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                        "source": source})
    return nb


def _prepend(nb, source):
    nb["cells"].insert(0, {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                           "source": source})
    return nb


def _probe(code: str) -> str:
    """A `squares` whose failure message carries a report out through the PUBLIC test's message."""
    return code + '\nimport json as _j\ndef squares(n):\n    raise RuntimeError("PROBE" + _j.dumps(REPORT))\n'


def attacks(base: dict, data_dir: str, course_dir: str, port: int) -> dict:
    A = {}

    def nb():
        return copy.deepcopy(base)

    always = '''class Yes:
    def __eq__(self, o): return True
    def __ne__(self, o): return False
    def __bool__(self): return True
    def __len__(self): return 1
    def __getitem__(self, i): return self
    def __array__(self, *a, **k):
        import numpy as np; return np.array([1, 4, 9, 16, 25])
'''
    A["eq_always_true"] = _set(_set(_set(nb(), "squares", always + "def squares(n): return Yes()"),
                                    "sum_of_squares", "def sum_of_squares(n): return Yes()"),
                               "squares_np", "import numpy as np\n" + always + "def squares_np(n): return Yes()")
    A["patched_numpy_testing"] = _set(nb(), "squares_np", '''import numpy as np, numpy.testing as npt
npt.assert_array_equal = lambda *a, **k: None
npt.assert_allclose = lambda *a, **k: None
np.testing.assert_equal = lambda *a, **k: None
np.array_equal = lambda *a, **k: True
from numpy.testing import assert_allclose
def squares_np(n): return np.zeros(1)''')
    A["patched_builtins_and_ipython"] = _set(nb(), "squares", '''import builtins, sys
class Never(BaseException): pass
builtins.AssertionError = Never
builtins.ValueError = Exception
builtins.isinstance = lambda *a: True
sys.excepthook = lambda *a: None
ip = get_ipython()
ip.input_transformers_cleanup.append(lambda lines: ["pass\\n"])
ip.showtraceback = lambda *a, **k: None
import IPython.core.interactiveshell
IPython.core.interactiveshell.InteractiveShell.showtraceback = lambda *args, **kwargs: None  # nbgrader PR #1324
type = lambda *a: list  # nbgrader #1379 comment: defeat type checks
locals = lambda: {"type": None}
AssertionError = Never
def squares(n): return None''')
    A["torch_testing_patched"] = _set(nb(), "squares_np", '''import numpy as np
try:
    import torch
    torch.testing.assert_close = lambda *a, **k: None
    torch.equal = lambda *a, **k: True
except Exception:
    pass
def squares_np(n): return np.ones(n)''')
    A["exit_kernel"] = _append(_set(nb(), "squares", "import os\nos._exit(0)"), "def squares(n): return [1]")
    A["system_exit_in_call"] = _set(_set(nb(), "squares", "def squares(n): raise SystemExit(0)"),
                                    "sum_of_squares", "def sum_of_squares(n): raise KeyboardInterrupt")
    A["kill_parent"] = _set(nb(), "squares", "import os, signal\nos.kill(os.getppid(), 9)\nos.kill(1, 9)\n"
                                             "os.kill(-1, 9)")
    A["read_outside"] = _set(nb(), "squares", _probe(f'''import os, glob
paths = [{data_dir!r}, {data_dir + "/gradebook.db"!r}, {data_dir + "/assignments/ps1/source/problem1.ipynb"!r},
         {course_dir + "/source/ps1/problem1.ipynb"!r}, "/root", {CHECKER!r}, "/etc/passwd",
         "/proc/1/environ", "/var/run/postgresql", "/home"]
paths += glob.glob({data_dir + "/submissions/*/*"!r})
REPORT = {{"readable": []}}
for p in paths:
    try:
        if os.path.isdir(p):
            os.listdir(p)
        else:
            open(p, "rb").read(10)
        REPORT["readable"].append(p)
    except Exception:
        pass
REPORT["uid"] = os.getuid()'''))
    A["network"] = _set(nb(), "squares", _probe(f'''import socket
REPORT = {{"connected": []}}
for host, port in [("127.0.0.1", 5432), ("127.0.0.1", 6379), ("127.0.0.1", {port}), ("8.8.8.8", 53),
                   ("::1", {port})]:
    try:
        s = socket.create_connection((host, port), timeout=2)
        REPORT["connected"].append(port)
        s.close()
    except Exception:
        pass'''))
    A["fork_bomb"] = _prepend(nb(), '''import os
while True:
    try:
        os.fork()
    except OSError:
        pass''')
    A["memory_bomb"] = _set(_prepend(nb(), "blocks = []\nwhile True:\n    blocks.append(bytearray(50 << 20))"),
                            "squares", "def squares(n):\n    x = bytearray(8 << 30)\n    return [1]")
    A["infinite_loop"] = _prepend(nb(), "while True:\n    pass")
    A["hang_in_call"] = _set(nb(), "squares", "import time\ndef squares(n):\n    time.sleep(10**6)")
    A["output_flood_1gb"] = _prepend(nb(), "import sys\nchunk = 'x' * (1 << 20)\nfor _ in range(1024):\n"
                                          "    sys.stdout.write(chunk)")
    # edited nbgrader metadata: points, grade ids, locked cells, test cells replaced/deleted/duplicated
    m = nb()
    cells = m["cells"]
    for c in cells:
        md = c.get("metadata", {}).get("nbgrader", {})
        if md.get("grade") and not md.get("solution") and c["cell_type"] == "code":
            md["points"] = 100
            c["source"] = "pass"
        if md.get("grade_id") == "correct_sum_of_squares":
            md["grade_id"] = "renamed"
            md["grade"] = False
        if md.get("solution") and c["cell_type"] == "code":
            md["grade"] = True
            md["points"] = 100
        if md.get("locked"):
            md["locked"] = False
            c["source"] = "pass"
    cells[:] = [c for c in cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id")
                != "squares_invalid_input"]
    cells += [copy.deepcopy(c) for c in cells if c.get("metadata", {}).get("nbgrader", {}).get("grade")]
    A["edited_metadata"] = m
    # forged outputs and result files, forged answers on every fd
    f = nb()
    for c in f["cells"]:
        if c["cell_type"] == "code":
            c["outputs"] = [{"output_type": "execute_result", "execution_count": 1, "metadata": {},
                             "data": {"text/plain": "1.0"}}]
            c["execution_count"] = 1
            c["metadata"].setdefault("nbgrader", {})["score"] = 100
    _append(f, '''import os, json, struct, threading, time
for p in ["results.json", "/tmp/results.json", "/home/learner/grades.json", "feedback.html"]:
    open(p, "w").write(json.dumps({"score": 100, "tests": [{"grade_id": "correct_squares", "passed": True}]}))
def forge():
    for _ in range(200):
        for fd in range(3, 40):
            for i in range(1, 40):
                body = json.dumps({"id": i, "ok": True}).encode()
                try:
                    os.write(fd, struct.pack(">Q", len(body)) + body)
                except OSError:
                    pass
        time.sleep(0.01)
threading.Thread(target=forge, daemon=True).start()
time.sleep(0.5)''')
    A["forged_outputs_and_answers"] = f
    A["introspect_tests"] = _set(nb(), "squares", '''import gc, inspect, sys
def squares(n):
    found = []
    for fr in inspect.stack():
        found.append(fr.filename)
    for o in gc.get_objects():
        if isinstance(o, str) and ("BEGIN HIDDEN" in o or "assert squares" in o):
            found.append(o[:200])
    raise RuntimeError("PROBE" + repr(found))''')
    A["steal_channel"] = _prepend(nb(), '''import os, threading
def steal(fd):
    while True:
        try:
            os.read(fd, 1 << 16)
        except OSError:
            return
for fd in range(3, 30):
    threading.Thread(target=steal, args=(fd,), daemon=True).start()''')
    A["huge_return"] = _set(nb(), "squares", "def squares(n):\n    return b'x' * (40 << 20)")
    A["fake_modules"] = _set(_set(nb(), "squares_np", '''import types, numpy
np = types.SimpleNamespace(testing=types.SimpleNamespace(assert_array_equal=lambda *a, **k: None,
                           assert_allclose=lambda *a, **k: None), array=lambda x: x)
def squares_np(n): return [0]'''), "squares", "import sys\nsys.modules['numpy'] = None\ndef squares(n): return [0]")
    return A


@pytest.fixture(scope="module")
def redteam(grader, notebooks, course):
    A = attacks(notebooks["unsolved"], grader.data, str(course), grader.port)
    assert len(A) >= 15
    order = []
    for name, nb in A.items():
        r = grader.submit(grader.tokens["mallory"], nb_bytes(nb))
        assert r.status_code == 202, (name, r.text)
        h = grader.submit(grader.tokens["bob"], nb_bytes(notebooks["solved"]))
        assert h.status_code == 202
        order.append((name, r.json()["id"], h.json()["id"]))
    out = {}
    for name, sid, hid in order:
        out[name] = (grader.wait(sid, grader.tokens["mallory"]), grader.wait(hid, grader.tokens["bob"]))
    return out


ATTACKS = ["eq_always_true", "patched_numpy_testing", "patched_builtins_and_ipython", "torch_testing_patched",
           "exit_kernel", "system_exit_in_call", "kill_parent", "read_outside", "network", "fork_bomb",
           "memory_bomb", "infinite_loop", "hang_in_call", "output_flood_1gb", "edited_metadata",
           "forged_outputs_and_answers", "introspect_tests", "huge_return", "fake_modules", "steal_channel"]


@pytest.mark.parametrize("name", ATTACKS)
def test_attack(name, redteam, grader):
    res, honest = redteam[name]
    assert (res["score"] or 0) <= EXPECTED["unsolved"], (name, res)
    assert all(not t["passed"] for t in res["tests"]), res["tests"]
    tok = grader.tokens["mallory"]
    texts = [grader.get(f"/api/v1/submissions/{res['id']}", tok).text,
             grader.get(f"/api/v1/submissions/{res['id']}/feedback", tok).text]
    for t in texts:
        assert HIDDEN not in t and HIDDEN_NP not in t and "BEGIN HIDDEN" not in t
    assert httpx.get(grader.url + "/healthz", timeout=30).status_code == 200
    assert honest["status"] == "graded" and honest["score"] == EXPECTED["solved"], (name, honest)


def _probe_report(res):
    for t in res["tests"]:
        m = re.search(r"PROBE(\{.*\})", t["message"])
        if m:
            return json.loads(m.group(1))
    raise AssertionError(f"no probe report in {res['tests']}")


def test_sandbox_hides_everything_outside(redteam):
    rep = _probe_report(redteam["read_outside"][0])
    assert rep["readable"] == [] or all(p in ("/home",) for p in rep["readable"]), rep
    assert rep["uid"] != 0


def test_sandbox_has_no_network(redteam):
    rep = _probe_report(redteam["network"][0])
    assert rep["connected"] == [], rep


def test_learner_cannot_see_test_source(redteam):
    res = redteam["introspect_tests"][0]
    msg = " ".join(t["message"] for t in res["tests"])
    assert "assert squares" not in msg and "BEGIN HIDDEN" not in msg and "checker" not in msg
