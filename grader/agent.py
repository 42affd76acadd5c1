"""The learner-side agent. Runs INSIDE the sandbox, as an unprivileged uid, and is fully
under the learner's control once the first learner cell has run: nothing it says is
trusted. It executes the learner's cells (IPython semantics) and answers plain-data
requests from the checker about the learner's namespace (get a name, call a function,
read an attribute...). It never sees test-cell source: the checker runs the tests.

Channel: requests on fd GRADER_RFD, answers on fd GRADER_WFD (length-prefixed JSON, see
wire.py). stdout/stderr go to a capped pipe that the checker discards.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
for _d in filter(None, os.environ.get("GRADER_SITE", "").split(":")):
    import site

    site.addsitedir(_d)

import shutil  # noqa: E402
import types  # noqa: E402

import wire  # noqa: E402

RFD = int(os.environ.get("GRADER_RFD", "3"))
WFD = int(os.environ.get("GRADER_WFD", "4"))
MAX_MSG = int(os.environ.get("GRADER_MAX_MSG", str(32 << 20)))

_handles: dict[int, object] = {}


def _ref(obj):
    n = len(_handles) + 1
    _handles[n] = obj
    out = {"$r": n, "t": type(obj).__name__[:100]}
    if isinstance(obj, types.ModuleType):
        out["module"] = str(getattr(obj, "__name__", ""))[:200]
    elif callable(obj):
        # library functions/classes: the checker uses ITS OWN copy (so a patched one is ignored)
        try:
            mod, qn = obj.__module__, obj.__qualname__
            if isinstance(mod, str) and isinstance(qn, str) and mod != "__main__" and "<" not in qn:
                out["qn"] = f"{mod}:{qn}"[:300]
        except Exception:
            pass
    return out


_copies: list = []


def _deref(d):
    if "$pk" in d:  # an object the test made, copied in by the checker (trusted direction)
        return _copies[d["$pk"] - 1]
    try:
        return _handles[d["$r"]]
    except (KeyError, TypeError) as e:
        raise wire.ProtocolError("unknown reference") from e


def _enc(value):
    try:
        return wire.encode(value, _ref)
    except Exception:
        return _ref(value)


def _exc_name(e: BaseException) -> str:
    for cls in type(e).__mro__:
        if cls.__module__ == "builtins":
            return cls.__name__
    return "Exception"


def main() -> None:
    src = os.environ.get("GRADER_FILES")
    if src and os.path.isdir(src):
        for name in os.listdir(src):
            p = os.path.join(src, name)
            (shutil.copytree if os.path.isdir(p) else shutil.copy)(p, name)
    mine = os.environ.get("GRADER_NOTEBOOK")
    if mine and os.path.isfile(mine):
        try:
            shutil.copy(mine, os.path.basename(mine))  # the learner's notebook replaces the release copy
        except OSError:
            pass
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.enable_gui = lambda gui=None: None  # no event loop here: %matplotlib inline just selects the backend
    ns = shell.user_ns
    while True:
        try:
            req = wire.recv(RFD, MAX_MSG)
        except EOFError:
            return
        rid = req.get("id")
        op = req.get("op")
        try:
            if op == "run":
                res = shell.run_cell(req["src"], store_history=True)
                sys.stdout.flush()
                sys.stderr.flush()
                out = {"ok": bool(res.success)}
            elif op == "get":
                name = req["name"]
                if name not in ns:
                    raise NameError(f"name {name!r} is not defined")
                out = {"ok": _enc(ns[name])}
            elif op == "set":
                ns[req["name"]] = wire.decode(req["value"], _deref)
                out = {"ok": None}
            elif op == "del":
                name = req["name"]
                if name not in ns:
                    raise NameError(f"name {name!r} is not defined")
                del ns[name]
                out = {"ok": None}
            else:
                obj = _deref({"$r": req.get("ref")})
                if op == "call":
                    _copies.clear()
                    if req.get("pk"):
                        import base64
                        import pickle

                        _copies.extend(pickle.loads(base64.b64decode(req["pk"])))
                    args = wire.decode(req["args"], _deref)
                    kwargs = wire.decode(req["kwargs"], _deref)
                    out = {"ok": _enc(obj(*args, **kwargs))}
                    back = []
                    for n, copied in enumerate(_copies, 1):
                        if hasattr(copied, "state_dict") and hasattr(copied, "load_state_dict"):
                            back.append([n, wire.encode(dict(copied.state_dict()))])
                    if back:
                        out["out"] = back
                elif op == "getattr":
                    out = {"ok": _enc(getattr(obj, req["name"]))}
                elif op == "setattr":
                    setattr(obj, req["name"], wire.decode(req["value"], _deref))
                    out = {"ok": None}
                elif op == "getitem":
                    out = {"ok": _enc(obj[wire.decode(req["key"], _deref)])}
                elif op == "setitem":
                    obj[wire.decode(req["key"], _deref)] = wire.decode(req["value"], _deref)
                    out = {"ok": None}
                elif op == "len":
                    out = {"ok": len(obj)}
                elif op == "bool":
                    out = {"ok": bool(obj)}
                elif op == "contains":
                    out = {"ok": bool(wire.decode(req["item"], _deref) in obj)}
                elif op == "iter":
                    out = {"ok": _ref(iter(obj))}
                elif op == "next":
                    out = {"ok": _enc(next(obj))}
                elif op == "str":
                    out = {"ok": str(obj)[:100000]}
                elif op == "repr":
                    out = {"ok": repr(obj)[:100000]}
                else:
                    raise wire.ProtocolError(f"unknown op {op!r}")
        except BaseException as e:  # the learner's exception, reported by name only
            if isinstance(e, KeyboardInterrupt):
                raise
            try:
                msg = str(e)[:2000]
            except Exception:
                msg = ""
            out = {"err": [_exc_name(e), msg]}
        out["id"] = rid
        wire.send(WFD, out)


if __name__ == "__main__":
    main()
