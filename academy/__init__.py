"""AIaaS Academy's shared library: what the notebooks, the app and the grader all import.

One source of truth: datasets (``academy.data``), models (``academy.models``), the training
loop (``academy.train``) and the model registry (``academy.registry``).
"""

from academy.runtime import resolve_device, seed_everything

__all__ = ["resolve_device", "seed_everything"]
__version__ = "0.1.0"
