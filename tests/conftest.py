"""Shared test setup: keep every test's registry and build output out of the repository's own."""

import os

import pytest

os.environ.setdefault("ACADEMY_PROGRESS", "off")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def registry_root(tmp_path, monkeypatch):
    """An empty registry folder, also exported as ACADEMY_MODELS for code that reads the default."""
    root = tmp_path / "models"
    root.mkdir()
    monkeypatch.setenv("ACADEMY_MODELS", str(root))
    return root
