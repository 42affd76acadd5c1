"""``python -m academy``: list datasets and registry models, run the notebooks."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _datasets(_args) -> int:
    from academy.data import DATASETS

    for name, (_module, about) in DATASETS.items():
        print(f"{name:12s} {about}")
    return 0


def _models(args) -> int:
    from academy import registry

    root = Path(args.root) if args.root else registry.default_root()
    cards = registry.list_cards(root)
    if not cards:
        print(f"no models in {root}; build them with `make models`")
        return 0
    for card in cards:
        if "error" in card:
            print(f"{card['name']:12s} BROKEN: {card['error']}")
            continue
        metrics = ", ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
                            for k, v in card["metrics"].items() if not isinstance(v, dict | list))
        print(f"{card['name']:12s} {card['version']:5s} {card['architecture']:12s} {metrics}")
    if args.json:
        print(json.dumps(cards, indent=2))
    return 0


def _notebooks(args) -> int:
    from academy import harness

    paths = [Path(p) for p in args.paths] or None
    results = harness.run_all(paths, mode=args.mode, seed=args.seed, device=args.device, jobs=args.jobs,
                               stream=args.stream)
    failed = [r for r in results if r.status != "ok"]
    for r in failed:
        print(f"FAILED {r.notebook}: {r.error}\n  executed copy: {r.output}", file=sys.stderr)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m academy", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("datasets", help="list the offline datasets").set_defaults(fn=_datasets)
    p = sub.add_parser("models", help="list the models in the registry")
    p.add_argument("--root", help="registry folder (default: ACADEMY_MODELS or ./models)")
    p.add_argument("--json", action="store_true", help="also print the full cards")
    p.set_defaults(fn=_models)
    p = sub.add_parser("notebooks", help="execute notebooks with papermill")
    p.add_argument("paths", nargs="*", help="notebooks to run (default: all under notebooks/)")
    p.add_argument("--mode", choices=("smoke", "full"), default="smoke")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="auto | cpu | cuda | mps (default: $DEVICE or auto)")
    p.add_argument("--jobs", type=int, default=None, help="parallel notebooks (default: core count)")
    p.add_argument("--stream", action=argparse.BooleanOptionalAction, default=None,
                   help="echo cell outputs live (default: on when one notebook runs at a time)")
    p.set_defaults(fn=_notebooks)
    args = parser.parse_args(argv)
    return args.fn(args)
