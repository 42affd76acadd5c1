"""The trusted checker: ``python -m grader.checker`` (spawned by a worker, job JSON on stdin,
result JSON on stdout).

For each notebook it starts the learner's agent in the sandbox and walks the cell plan:
learner cells are sent to the agent to run; TEST cells run HERE, in this clean process that
the learner cannot reach, against a namespace whose learner names are remote references.
Whenever a test touches a learner value it gets either plain data (decoded by wire.decode
into exact built-in/numpy/torch values) or an opaque proxy that only forwards calls,
attribute and item reads to the sandbox. Comparisons, ``assert``, numpy.testing, exception
handling and the pass/fail decision all happen in this process with its own, unpatched
modules. The learner never sees test source, expected values, or the pass/fail outcome.
"""

from __future__ import annotations

import ast
import base64
import builtins
import contextlib
import importlib
import io
import json
import os
import pickle  # only ever DUMPS test-made objects into the sandbox; nothing is unpickled here
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

from grader import merge, sandbox, wire

_MODNAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
# Modules whose names a learner object may claim (a module the learner imported, or a library function
# it imported by name) and that the checker then uses FROM ITS OWN IMPORT instead of the learner's copy.
# Pure computational libraries only: anything that touches files, processes or the interpreter (os, sys,
# shutil, subprocess, builtins, pickle, importlib...) stays a proxy to the sandbox, so a learner cannot make a
# test call a dangerous checker-side function by naming it. Extend with GRADER_LOCAL_MODULES (comma list).
LOCAL_MODULES = {
    "numpy", "scipy", "torch", "math", "cmath", "statistics", "random", "pandas", "sklearn", "academy",
    "collections", "itertools", "functools", "operator", "string", "re", "json", "decimal", "fractions",
    "numbers", "typing", "dataclasses", "copy", "heapq", "bisect", "textwrap", "unicodedata", "datetime",
} | {m.strip() for m in os.environ.get("GRADER_LOCAL_MODULES", "").split(",") if m.strip()}


class SandboxDied(Exception):
    pass


class RemoteError(Exception):
    """An exception raised by learner code whose type is not a built-in exception."""


class CellTimeout(Exception):
    pass


def _local_exc(name: str, msg: str) -> BaseException:
    cls = getattr(builtins, name, None) if isinstance(name, str) else None
    if isinstance(cls, type) and issubclass(cls, Exception):
        try:
            return cls(msg)
        except Exception:
            pass
    return RemoteError(msg)


class Agent:
    """The channel to the sandboxed learner process. Every answer is untrusted data."""

    def __init__(self, limits: sandbox.Limits, files_dir: str | None, extra_ro: list[str], use_sandbox: bool,
                 uid: int, notebook: tuple[str, str] | None = None, extra_env: dict | None = None):
        self.limits = limits
        self.max_msg = limits.max_message_mb << 20
        self.dead: str | None = None
        self.output = 0
        self.last_out = None
        req_r, req_w = os.pipe()
        ans_r, ans_w = os.pipe()
        out_r, out_w = os.pipe()
        if use_sandbox:
            argv, env = sandbox.build_command(uid, limits, files_dir, extra_ro, notebook)
            cwd = "/"
            self._tmp = None
        else:
            argv, env = sandbox.build_unsandboxed(limits, files_dir, notebook)
            self._tmp = tempfile.mkdtemp(prefix="grader-unsandboxed-")
            cwd = self._tmp

        env = {**(extra_env or {}), **env}   # the assignment's variables never override the sandbox's own
        env["GRADER_RFD"], env["GRADER_WFD"] = str(req_r), str(ans_w)
        self.debug = os.environ.get("GRADER_DEBUG_AGENT") == "1"
        self.proc = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out_w, stderr=out_w,
                                     pass_fds=(req_r, ans_w), start_new_session=True)
        for fd in (req_r, ans_w, out_w):
            os.close(fd)
        os.set_blocking(req_w, False)  # writes honour the deadline (see wire.send)
        self.wfd, self.rfd = req_w, ans_r
        self._out_r = out_r
        self._seq = 0
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        # learner output is counted and discarded; too much of it ends the run
        while True:
            try:
                chunk = os.read(self._out_r, 1 << 16)
            except OSError:
                return
            if not chunk:
                return
            self.output += len(chunk)
            if self.debug:
                sys.stderr.write(chunk.decode(errors="replace"))
            if self.output > self.limits.output_bytes and not self.dead:
                self.kill(f"output limit exceeded ({self.limits.output_bytes} bytes)")

    def kill(self, reason: str):
        if not self.dead:
            self.dead = reason
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()

    def close(self):
        self.kill(self.dead or "finished")
        with contextlib.suppress(Exception):
            self.proc.wait(timeout=10)
        for fd in (self.wfd, self.rfd):
            with contextlib.suppress(OSError):
                os.close(fd)
        if self._tmp:
            import shutil

            shutil.rmtree(self._tmp, ignore_errors=True)

    def rpc(self, op: str, deadline: float, **kw):
        if self.dead:
            raise SandboxDied(self.dead)
        self._seq += 1
        try:
            wire.send(self.wfd, {"id": self._seq, "op": op, **kw}, deadline)
            ans = wire.recv(self.rfd, self.max_msg, deadline)
        except TimeoutError:
            self.kill("time limit exceeded")
            raise SandboxDied(self.dead) from None
        except (EOFError, OSError, wire.ProtocolError) as e:
            code = self.proc.poll()
            how = e.__class__.__name__ + ("" if code is None else f", exit {code}")
            self.kill(self.dead or f"the learner's process ended ({how})")
            raise SandboxDied(self.dead) from None
        if ans.get("id") != self._seq:
            self.kill("protocol error (answer out of sequence)")
            raise SandboxDied(self.dead)
        if "err" in ans:
            err = ans["err"]
            if not (isinstance(err, list) and len(err) == 2 and all(isinstance(x, str) for x in err)):
                self.kill("protocol error")
                raise SandboxDied(self.dead)
            raise _local_exc(err[0][:100], err[1][:2000])
        self.last_out = ans.get("out")
        return ans.get("ok")


class Checker:
    def __init__(self, agent: Agent, cell_seconds: float, wall_deadline: float):
        self.agent = agent
        self.cell_seconds = cell_seconds
        self.wall_deadline = wall_deadline
        self.step_deadline = wall_deadline

    def rpc(self, op, **kw):
        return self.agent.rpc(op, min(self.step_deadline, self.wall_deadline), **kw)

    def value(self, encoded):
        return wire.decode(encoded, self._deref, self.agent.max_msg)

    def _deref(self, d: dict):
        ref = d.get("$r")
        if type(ref) is not int:
            raise wire.ProtocolError("bad reference")
        mod = d.get("module")
        if isinstance(mod, str):
            local = _import_local(mod)
            if local is not None:
                return local
        qn = d.get("qn")
        if isinstance(qn, str) and ":" in qn:
            local = _resolve_local(qn)
            if local is not None:
                return local
        return Remote(self, ref, str(d.get("t", "object"))[:100])

    def arg(self, value, copies: dict | None = None):
        """Encode a value the test passes to learner code. Plain data goes as data, learner objects
        as references; other objects the TEST made (a model, an optimizer...) are copied INTO the
        sandbox (pickled here, unpickled there: the checker itself never unpickles anything), and
        for torch modules/optimizers their state comes back after the call as plain tensors."""
        def ref(obj):
            if isinstance(obj, Remote):
                return {"$r": object.__getattribute__(obj, "_ref")}
            if copies is not None and not isinstance(obj, type(lambda: 0)):
                for n, known in copies.items():
                    if known is obj:
                        return {"$pk": n}
                n = len(copies) + 1
                copies[n] = obj
                return {"$pk": n}
            raise TypeError(f"a {type(obj).__name__} cannot be passed to learner code (only plain data)")

        if isinstance(value, Remote):
            return ref(value)
        return wire.encode(value, ref)

    def copy_back(self, copies: dict, out) -> None:
        """Load the state the learner's call left in copied torch modules/optimizers (data only)."""
        if not copies or not isinstance(out, list):
            return
        for item in out[:len(copies)]:
            if not (isinstance(item, list) and len(item) == 2 and type(item[0]) is int and item[0] in copies):
                raise wire.ProtocolError("bad copy-back")
            state = self.value(item[1])
            if not isinstance(state, dict):
                raise wire.ProtocolError("bad copy-back state")
            copies[item[0]].load_state_dict(state)


def _import_local(name: str):
    if not _MODNAME.match(name) or name.split(".")[0] not in LOCAL_MODULES:
        return None
    try:
        return importlib.import_module(name)
    except Exception:
        return None


def _resolve_local(qn: str):
    mod, _, path = qn.partition(":")
    obj = _import_local(mod)
    if obj is None:
        return None
    for part in path.split("."):
        if not part.isidentifier():
            return None
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj if callable(obj) else None


class Remote:
    """An object that lives in the sandbox. It forwards calls and reads; it is never equal to
    anything but itself, so it cannot fake a comparison."""

    __slots__ = ("_chk", "_ref", "_type")

    def __init__(self, chk: Checker, ref: int, typ: str):
        object.__setattr__(self, "_chk", chk)
        object.__setattr__(self, "_ref", ref)
        object.__setattr__(self, "_type", typ)

    def _rpc(self, op, **kw):
        chk = object.__getattribute__(self, "_chk")
        return chk.value(chk.rpc(op, ref=object.__getattribute__(self, "_ref"), **kw))

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self._rpc("getattr", name=name)

    def __setattr__(self, name, value):
        chk = object.__getattribute__(self, "_chk")
        self._rpc("setattr", name=name, value=chk.arg(value))

    def __call__(self, *args, **kwargs):
        chk = object.__getattribute__(self, "_chk")
        copies: dict = {}
        a, k = chk.arg(list(args), copies), chk.arg(dict(kwargs), copies)
        extra = {}
        if copies:  # one pickle for all copied objects: shared references (model <-> optimizer) survive
            try:
                blob = pickle.dumps([copies[i] for i in sorted(copies)], protocol=pickle.HIGHEST_PROTOCOL)
            except Exception as e:
                raise TypeError(f"cannot pass {', '.join(type(o).__name__ for o in copies.values())} "
                                f"to learner code: {e}") from None
            extra["pk"] = base64.b64encode(blob).decode()
        result = self._rpc("call", args=a, kwargs=k, **extra)
        chk.copy_back(copies, chk.agent.last_out)
        return result

    def __getitem__(self, key):
        return self._rpc("getitem", key=object.__getattribute__(self, "_chk").arg(key))

    def __setitem__(self, key, value):
        chk = object.__getattribute__(self, "_chk")
        self._rpc("setitem", key=chk.arg(key), value=chk.arg(value))

    def __len__(self):
        n = self._rpc("len")
        if type(n) is not int or n < 0:
            raise TypeError("bad len()")
        return n

    def __bool__(self):
        v = self._rpc("bool")
        if type(v) is not bool:
            raise TypeError("bad bool()")
        return v

    def __contains__(self, item):
        return self._rpc("contains", item=object.__getattribute__(self, "_chk").arg(item)) is True

    def __iter__(self):
        it = self._rpc("iter")
        if not isinstance(it, Remote):
            raise TypeError("learner object is not iterable")
        while True:
            try:
                item = it._rpc("next")
            except StopIteration:
                return
            yield item

    def __str__(self):
        v = self._rpc("str")
        return v if type(v) is str else ""

    def __repr__(self):
        return f"<learner {object.__getattribute__(self, '_type')}>"

    def __eq__(self, other):
        return self is other

    def __ne__(self, other):
        return self is not other

    def __hash__(self):
        return id(self)


class Namespace(dict):
    """Globals for test cells. Built-in names are always the checker's own; names the test
    defines live here; every other name is looked up in the learner's namespace."""

    def __init__(self, chk: Checker):
        super().__init__()
        self.chk = chk
        dict.__setitem__(self, "__builtins__", builtins)
        dict.__setitem__(self, "__name__", "__main__")

    def __getitem__(self, name):
        if dict.__contains__(self, name):
            return dict.__getitem__(self, name)
        if hasattr(builtins, name):
            raise KeyError(name)  # falls through to the checker's builtins
        try:
            return self.chk.value(self.chk.rpc("get", name=name))
        except NameError:
            raise KeyError(name) from None

    def __setitem__(self, name, value):
        if isinstance(value, Remote):
            # rebinding a learner object (e.g. restoring a function the test removed): mirror it
            self.chk.rpc("set", name=name, value=self.chk.arg(value))
            if dict.__contains__(self, name):
                dict.__delitem__(self, name)
        else:
            dict.__setitem__(self, name, value)

    def __delitem__(self, name):
        if dict.__contains__(self, name):
            dict.__delitem__(self, name)
            return
        try:
            self.chk.rpc("del", name=name)
        except NameError:
            raise KeyError(name) from None


def _alarm(signum, frame):
    raise CellTimeout("test cell took too long")


def _partial(value, max_points: float) -> float:
    """nbgrader's rule for a test cell whose last expression has a value."""
    text = repr(value) if not isinstance(value, str) else repr(value)
    try:
        g = float(text)
    except ValueError:
        return max_points
    if g >= 0:
        if g > max_points:
            raise ValueError("partial credit cannot be greater than maximum points for cell")
        return g
    return max_points


def run_test(chk: Checker, ns: Namespace, test: merge.Test) -> tuple[float, str]:
    """Run one test cell here. Returns (points, message)."""
    src = _strip_magics(test.source)
    try:
        tree = ast.parse(src, filename=f"<test {test.grade_id}>")
    except SyntaxError as e:
        return 0.0, f"SyntaxError: {e.msg}"
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    out, err = io.StringIO(), io.StringIO()
    chk.step_deadline = time.monotonic() + chk.cell_seconds
    signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, max(0.1, min(chk.step_deadline, chk.wall_deadline) - time.monotonic()) + 1)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            exec(compile(tree, f"<test {test.grade_id}>", "exec"), ns)
            value = eval(compile(last, f"<test {test.grade_id}>", "eval"), ns) if last is not None else None
    except SandboxDied:
        raise
    except CellTimeout:
        return 0.0, "TimeoutError: test cell took too long"
    except BaseException as e:  # noqa: B036 - a test may raise anything, SystemExit included
        return 0.0, f"{type(e).__name__}: {str(e)[:500]}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    if err.getvalue():
        return 0.0, "the test wrote to stderr"
    if value is not None:
        try:
            g = _partial(value, test.points)
            return g, ("partial credit" if g < test.points else "")
        except ValueError as e:
            return 0.0, str(e)
    return test.points, ""


def _strip_magics(src: str) -> str:
    if not re.search(r"^\s*[%!]|\?\s*$", src, flags=re.M):
        return src  # plain Python: skip importing IPython
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        return TransformerManager().transform_cell(src)
    except Exception:
        return src


def grade_notebook(nb_job: dict, job: dict) -> dict:
    limits = sandbox.Limits.from_dict(job.get("limits"))
    with open(nb_job["source"]) as f:  # instructor files (trusted), nbformat 4 as written by nbgrader
        source = json.load(f)
    release = None
    if nb_job.get("release") and os.path.exists(nb_job["release"]):
        with open(nb_job["release"]) as f:
            release = json.load(f)
    learner = None
    if nb_job.get("submission"):
        learner = _read_untrusted(nb_job["submission"], job.get("max_notebook_bytes", 16 << 20))
    plan = merge.build_plan(source, release, learner)
    types_only = job.get("feedback_detail") == "types"
    results = []
    notes = []
    if learner is None:
        notes.append(f"{nb_job['name']}: not submitted (graded as handed out)")
    agent = None
    if not plan.tests:
        return {"tests": [], "max_score": plan.max_score, "notes": notes}
    try:
        mine = (nb_job["name"], nb_job["submission"]) if learner is not None else None
        agent = Agent(limits, job.get("files_dir"), job.get("extra_ro", []), job.get("sandbox", True),
                      int(job.get("uid", 61000)), mine, job.get("env"))
        chk = Checker(agent, limits.cell_seconds, time.monotonic() + limits.wall_seconds)
        ns = Namespace(chk)
        for kind, item in plan.steps:
            if kind == "run":
                if agent.dead:
                    continue
                chk.step_deadline = time.monotonic() + limits.cell_seconds
                try:
                    chk.rpc("run", src=item)
                except SandboxDied:
                    pass
                except Exception:
                    pass
                continue
            test = item
            if agent.dead:
                results.append(_result(nb_job["name"], test, 0.0, f"not run: {agent.dead}", types_only))
                continue
            try:
                pts, msg = run_test(chk, ns, test)
            except SandboxDied:
                pts, msg = 0.0, f"the learner's process stopped during this test: {agent.dead}"
            if agent.dead and pts:
                # the run may have been cut short mid-cell: only a completed cell counts
                pts, msg = 0.0, f"the learner's process stopped during this test: {agent.dead}"
            results.append(_result(nb_job["name"], test, pts, msg, types_only))
    finally:
        if agent is not None:
            agent.close()
    return {"tests": results, "max_score": plan.max_score, "notes": notes}


def _result(nb: str, test: merge.Test, pts: float, msg: str, types_only: bool = False) -> dict:
    if (test.hidden or types_only) and msg:
        # the message may quote hidden inputs/expected values: say only what kind of failure
        msg = msg.split(":", 1)[0][:100] + " (details hidden)"
    return {"notebook": nb, "grade_id": test.grade_id, "points": pts, "max_points": test.points,
            "passed": pts >= test.points and not (test.points == 0 and msg),
            "message": msg[:1000]}


def _read_untrusted(path: str, cap: int) -> dict | None:
    with open(path, "rb") as f:
        raw = f.read(cap + 1)
    if len(raw) > cap:
        return None
    try:
        nb = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return nb if isinstance(nb, dict) and isinstance(nb.get("cells"), list) else None


def main() -> int:
    job = json.loads(sys.stdin.read())
    result = {"tests": [], "max_score": 0.0, "notes": []}
    for nb_job in job["notebooks"]:
        r = grade_notebook(nb_job, job)
        result["tests"] += r["tests"]
        result["max_score"] += r["max_score"]
        result["notes"] += r["notes"]
    result["score"] = sum(t["points"] for t in result["tests"])
    sys.stdout.write(json.dumps(result))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
