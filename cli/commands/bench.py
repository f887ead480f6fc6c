"""`avatar-studio bench`: preview/refined/naive/relighting speed on this machine
(bench/engine_bench.py)."""
from __future__ import annotations

import json

from cli.common import add_model_flags, neural_resolution_list

NAME = "bench"
OUTPUT_FILES = ("json",)


def add_parser(sub) -> None:
    b = sub.add_parser(NAME, help="measure preview/refined/naive/relighting speed on this machine")
    add_model_flags(b)
    b.add_argument("--json", help="also write the results as JSON")
    b.add_argument("--repeats", type=int, default=5)
    b.add_argument("--resolutions", type=neural_resolution_list, default="32,64,128", help="neural resolutions to time")


def run(args) -> int:
    import numpy as np

    from bench.engine_bench import device_name, format_table, run_benchmark
    from core.engine import InferenceEngine

    engine = InferenceEngine.from_checkpoint(args.model, args.device)
    resolutions = tuple(int(x) for x in str(args.resolutions).split(",") if x.strip())
    print(f"benchmarking on {device_name(engine.device)} ...")
    identity, truth = None, None
    codes = getattr(engine, "provenance", {}).get("identity_codes")
    if codes:
        from core.identity import Identity
        from training.shape_fit import analytic_reference

        identity = Identity(np.asarray(codes[0]), name="fitted head 0")
        truth = analytic_reference(engine.model, engine.provenance, 0)
    result = run_benchmark(engine, resolutions, args.repeats, identity=identity, truth_model=truth)
    print(format_table(result))
    if args.json:
        from core.fileio import atomic_write_text

        atomic_write_text(args.json, json.dumps(result, indent=1))
        print(f"wrote {args.json}")
    return 0
