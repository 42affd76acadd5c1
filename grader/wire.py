"""Plain-data wire format between the trusted checker and the sandboxed agent.

Both sides import this file (the agent gets a read-only copy bound into the sandbox).
Only *data* crosses the boundary: JSON with tagged containers, numpy arrays as raw
bytes with an allow-listed numeric dtype, and opaque references (``{"$r": n}``) to
objects that stay inside the sandbox. Nothing is ever unpickled, and the decoder
builds only exact built-in types, so no object from the learner's process can take
part in a comparison made by the checker.

Frames are length-prefixed (8-byte big-endian length + UTF-8 JSON) with a size cap.
"""

from __future__ import annotations

import base64
import json
import os
import select
import struct
import time

MAX_DEPTH = 64
_HDR = struct.Struct(">Q")
_NUMERIC_KINDS = "biufc"
_TORCH_DTYPES = {
    "torch.float32", "torch.float64", "torch.float16", "torch.bfloat16", "torch.int64", "torch.int32",
    "torch.int16", "torch.int8", "torch.uint8", "torch.bool", "torch.complex64", "torch.complex128",
}


class NotData(Exception):
    """The value is not plain data (it must stay in the sandbox as a reference)."""


class ProtocolError(Exception):
    """The other side sent something malformed, too large or too late."""


# --------------------------------------------------------------------------- encoding
def encode(obj, ref=None, _depth=0):
    """Encode ``obj`` as tagged JSON. Exact types only; anything else goes through ``ref``
    (a callable returning a reference dict) or raises ``NotData``."""
    if _depth > MAX_DEPTH:
        raise NotData("too deep")
    t = type(obj)
    if obj is None or t is bool or t is str:
        return obj
    if t is int:
        if abs(obj) < (1 << 53):
            return obj
        return {"$i": str(obj)}
    if t is float:
        if obj != obj or obj in (float("inf"), float("-inf")):
            return {"$x": repr(obj)}
        return obj
    if t is complex:
        return {"$c": [encode(obj.real), encode(obj.imag)]}
    if t is bytes:
        return {"$b": base64.b64encode(obj).decode()}
    if t in (list, tuple, set, frozenset):
        tag = {list: "$l", tuple: "$t", set: "$s", frozenset: "$f"}[t]
        try:
            return {tag: [encode(x, ref, _depth + 1) for x in obj]}
        except NotData:
            if ref is None:
                raise
            return ref(obj)
    if t is dict:
        try:
            return {"$d": [[encode(k, ref, _depth + 1), encode(v, ref, _depth + 1)] for k, v in obj.items()]}
        except NotData:
            if ref is None:
                raise
            return ref(obj)
    mod = getattr(t, "__module__", "") or ""
    if mod == "numpy" and t.__name__ == "ndarray":
        if obj.dtype.kind not in _NUMERIC_KINDS or obj.dtype.hasobject or obj.dtype.fields is not None:
            if ref is None:
                raise NotData("non-numeric array")
            return ref(obj)
        import numpy as np

        arr = np.ascontiguousarray(obj)
        return {"$nd": [arr.dtype.str, list(arr.shape), base64.b64encode(arr.tobytes()).decode()]}
    if (mod == "numpy" and hasattr(obj, "dtype") and getattr(obj, "shape", None) == ()
            and obj.dtype.kind in _NUMERIC_KINDS):
        import numpy as np

        return {"$ns": [obj.dtype.str, base64.b64encode(np.asarray(obj).tobytes()).decode()]}
    if mod == "torch" and t.__name__ in ("Tensor", "Parameter"):
        dt = str(obj.dtype)
        if dt in _TORCH_DTYPES and obj.layout.__repr__() == "torch.strided":
            x = obj.detach().cpu()
            if dt == "torch.bfloat16":
                x = x.float()
            arr = x.contiguous().numpy()
            return {"$tt": [dt, arr.dtype.str, list(arr.shape), base64.b64encode(arr.tobytes()).decode(),
                            bool(obj.requires_grad)]}
    if ref is None:
        raise NotData(t.__name__)
    return ref(obj)


# --------------------------------------------------------------------------- decoding
def decode(obj, deref=None, max_bytes=64 << 20, _depth=0):
    """Decode tagged JSON into exact built-in / numpy / torch values. ``deref`` turns a
    reference dict into a local stand-in (a proxy on the checker, the object in the agent)."""
    if _depth > MAX_DEPTH:
        raise ProtocolError("nesting too deep")
    if obj is None or type(obj) in (bool, int, float, str):
        return obj
    if type(obj) is not dict or not obj:
        raise ProtocolError(f"unexpected {type(obj).__name__} on the wire")
    if "$r" in obj or "$pk" in obj:
        if deref is None:
            raise ProtocolError("reference not allowed here")
        return deref(obj)
    if len(obj) != 1:
        raise ProtocolError("bad tagged value")
    (tag, val), = obj.items()
    d = _depth + 1
    if tag == "$i":
        if type(val) is not str or len(val) > 5000:
            raise ProtocolError("bad big int")
        return int(val)
    if tag == "$x":
        if val not in ("nan", "inf", "-inf"):
            raise ProtocolError("bad float")
        return float(val)
    if tag == "$c":
        return complex(_num(val[0]), _num(val[1]))
    if tag == "$b":
        return base64.b64decode(_str(val), validate=True)
    if tag in ("$l", "$t", "$s", "$f"):
        if type(val) is not list:
            raise ProtocolError("bad sequence")
        items = [decode(x, deref, max_bytes, d) for x in val]
        if tag == "$l":
            return items
        if tag == "$t":
            return tuple(items)
        try:
            return set(items) if tag == "$s" else frozenset(items)
        except TypeError as e:
            raise ProtocolError("unhashable set item") from e
    if tag == "$d":
        if type(val) is not list:
            raise ProtocolError("bad dict")
        out = {}
        for pair in val:
            if type(pair) is not list or len(pair) != 2:
                raise ProtocolError("bad dict item")
            try:
                out[decode(pair[0], deref, max_bytes, d)] = decode(pair[1], deref, max_bytes, d)
            except TypeError as e:
                raise ProtocolError("unhashable key") from e
        return out
    if tag == "$nd":
        return _array(val[0], val[1], val[2], max_bytes)
    if tag == "$ns":
        return _array(val[0], [], val[1], max_bytes)[()]
    if tag == "$tt":
        import torch

        tdt, ndt, shape, raw, grad = val
        if tdt not in _TORCH_DTYPES:
            raise ProtocolError("bad tensor dtype")
        t = torch.from_numpy(_array(ndt, shape, raw, max_bytes).copy()).to(getattr(torch, tdt.split(".")[1]))
        if grad is True and t.is_floating_point():
            t.requires_grad_(True)
        return t
    raise ProtocolError(f"unknown tag {tag!r}")


def _num(x):
    if type(x) in (int, float):
        return x
    if type(x) is dict:
        v = decode(x)
        if type(v) in (int, float):
            return v
    raise ProtocolError("bad number")


def _str(x):
    if type(x) is not str:
        raise ProtocolError("bad string")
    return x


def _array(dtype, shape, raw, max_bytes):
    import numpy as np

    try:
        dt = np.dtype(_str(dtype))
    except TypeError as e:
        raise ProtocolError("bad dtype") from e
    if dt.kind not in _NUMERIC_KINDS or dt.hasobject or dt.fields is not None or dt.subdtype is not None:
        raise ProtocolError("dtype not allowed")
    if type(shape) is not list or len(shape) > 32 or any(type(s) is not int or s < 0 for s in shape):
        raise ProtocolError("bad shape")
    n = 1
    for s in shape:
        n *= s
    if n * dt.itemsize > max_bytes:
        raise ProtocolError("array too large")
    data = base64.b64decode(_str(raw), validate=True)
    if len(data) != n * dt.itemsize:
        raise ProtocolError("array size mismatch")
    return np.frombuffer(data, dtype=dt).reshape(shape).copy()


# --------------------------------------------------------------------------- framing
def send(fd: int, msg: dict, deadline: float | None = None) -> None:
    """Write one frame. With a deadline the fd must be non-blocking: a peer that stops reading
    cannot stall the writer past it."""
    body = json.dumps(msg, separators=(",", ":")).encode()
    view = memoryview(_HDR.pack(len(body)) + body)
    while view:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([], [fd], [], left)[1]:
                raise TimeoutError("peer is not reading")
        try:
            n = os.write(fd, view)
        except BlockingIOError:
            continue
        view = view[n:]


def recv(fd: int, max_bytes: int, deadline: float | None = None) -> dict:
    hdr = _read_exact(fd, _HDR.size, deadline)
    (n,) = _HDR.unpack(hdr)
    if n > max_bytes:
        raise ProtocolError(f"message of {n} bytes exceeds the {max_bytes}-byte cap")
    body = _read_exact(fd, n, deadline)
    try:
        msg = json.loads(body)
    except (ValueError, RecursionError) as e:
        raise ProtocolError("invalid JSON frame") from e
    if type(msg) is not dict:
        raise ProtocolError("frame is not an object")
    return msg


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes:
    chunks = []
    while n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer in time")
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                raise TimeoutError("no answer in time")
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            raise EOFError("channel closed")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)
