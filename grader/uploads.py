"""Validate an upload (one .ipynb or a .zip of the assignment's notebooks) before anything is stored."""

from __future__ import annotations

import io
import json
import os
import re
import zipfile

import nbformat

SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.()-]{0,127}$")


class UploadError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def check_notebook(raw: bytes, name: str, cap: int) -> bytes:
    if not raw:
        raise UploadError(400, "empty_file", f"{name} is empty")
    if len(raw) > cap:
        raise UploadError(413, "too_large", f"{name} is larger than {cap} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UploadError(400, "not_a_notebook", f"{name} is not UTF-8 text (not a notebook)") from None
    try:
        nb = json.loads(text)
    except (ValueError, RecursionError):
        raise UploadError(400, "invalid_json", f"{name} is not valid JSON (not a notebook)") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list) or nb.get("nbformat") != 4:
        raise UploadError(400, "not_a_notebook", f"{name} is not a version-4 Jupyter notebook")
    if isinstance(nb.get("nbformat_minor"), int) and nb["nbformat_minor"] < 5 and any(
            isinstance(c, dict) and "id" in c for c in nb["cells"]):
        nb["nbformat_minor"] = 5  # cell ids without the minor bump: what Jupyter would upgrade to anyway
    try:
        nbformat.validate(nbformat.from_dict(nb))
    except Exception as e:
        msg = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        raise UploadError(400, "invalid_notebook", f"{name} is not a valid notebook: {msg}") from None
    return raw


def parse_upload(filename: str, raw: bytes, notebooks: list[str], max_nb: int, max_total: int,
                 max_entries: int) -> dict[str, bytes]:
    """Return {assignment notebook name: bytes}. Only names from the assignment are ever used on disk."""
    base = os.path.basename((filename or "").replace("\\", "/"))
    if not raw:
        raise UploadError(400, "empty_file", "the uploaded file is empty")
    if len(raw) > max_total:
        raise UploadError(413, "too_large", f"upload larger than {max_total} bytes")
    if base.lower().endswith(".zip") or raw[:4] == b"PK\x03\x04":
        return _parse_zip(raw, notebooks, max_nb, max_total, max_entries)
    if not base.lower().endswith(".ipynb"):
        raise UploadError(400, "bad_file_type", "upload one .ipynb notebook or a .zip of the assignment's notebooks")
    if base in notebooks:
        target = base
    elif len(notebooks) == 1:
        target = notebooks[0]
    else:
        raise UploadError(400, "unknown_notebook",
                          f"{base[:100]!r} is not a notebook of this assignment (expected one of {notebooks})")
    return {target: check_notebook(raw, target, max_nb)}


def _parse_zip(raw: bytes, notebooks: list[str], max_nb: int, max_total: int, max_entries: int) -> dict[str, bytes]:
    try:
        zf = zipfile.ZipFile(io.BytesIO(raw))
        infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise UploadError(400, "bad_zip", "the .zip file is corrupt") from None
    if len(infos) > max_entries:
        raise UploadError(400, "bad_zip", f"the .zip has more than {max_entries} entries")
    out: dict[str, bytes] = {}
    total = 0
    for info in infos:
        name = info.filename.replace("\\", "/")
        if info.is_dir() or "__MACOSX" in name or os.path.basename(name).startswith("."):
            continue
        if name.startswith("/") or ".." in name.split("/"):
            raise UploadError(400, "bad_zip", "the .zip contains an unsafe path")
        base = os.path.basename(name)
        if not base.endswith(".ipynb"):
            continue
        if base not in notebooks:
            raise UploadError(400, "unknown_notebook",
                              f"{base[:100]!r} is not a notebook of this assignment (expected {notebooks})")
        if base in out:
            raise UploadError(400, "bad_zip", f"{base} appears twice in the .zip")
        if info.file_size > max_nb:
            raise UploadError(413, "too_large", f"{base} is larger than {max_nb} bytes")
        if info.compress_size and info.file_size > (1 << 20) and info.file_size / info.compress_size > 100:
            raise UploadError(400, "zip_bomb", f"{base} is compressed suspiciously well (zip bomb?)")
        try:
            with zf.open(info) as f:
                data = f.read(max_nb + 1)  # never trust the declared size
        except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, RuntimeError):
            raise UploadError(400, "bad_zip", f"cannot extract {base}") from None
        total += len(data)
        if len(data) > max_nb or total > max_total * 4:
            raise UploadError(413, "too_large", f"{base} expands beyond the size limit")
        out[base] = check_notebook(data, base, max_nb)
    if not out:
        raise UploadError(400, "no_notebooks", f"the .zip contains none of {notebooks}")
    return out
