"""`avatar-studio train`: train a head model on a labelled multi-view dataset
(training/trainer.py). Data parallel: `torchrun --nproc_per_node 2 -m cli train ...`."""
from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from cli.common import CommandError

NAME = "train"
OUTPUT_FOLDERS = ("out",)


def add_parser(sub) -> None:
    t = sub.add_parser(NAME, help="train a head model on a labelled multi-view dataset")
    t.add_argument("--device", default=None,
                   help="auto (cuda > mps > cpu), cpu, cuda or mps; default: the config's device (auto)")
    t.add_argument("--config", help="training settings (JSON); see training/trainer.py TrainConfig")
    t.add_argument("--data", required=True, help="dataset folder (images + dataset.json)")
    t.add_argument("--out", required=True, help="run folder: checkpoint.safetensors, model.safetensors")
    t.add_argument("--resume", action="store_true", help="continue from the run folder's checkpoint")
    t.add_argument("--init", help="start from this head model (the config's `init`; e.g. a personal avatar "
                                  "from the bundled model)")
    t.add_argument("--set", nargs="*", metavar="KEY=VALUE",
                   help="override settings by their type, e.g. steps=500 sampler=band model.superres_factor=2")


def run(args) -> int:
    from training.trainer import Trainer, TrainConfig, TrainingCollapsed

    try:
        cfg = TrainConfig.from_file(args.config, args.set or ())
    except RecursionError:
        raise CommandError(f"{args.config}: JSON nested too deeply") from None
    for name in ("steps", "batch"):  # -5 steps or 0 images a step ran "successfully" and wrote a model
        if getattr(cfg, name) < 1:
            raise CommandError(f"{args.config or '--set'}: {name} must be at least 1, got {getattr(cfg, name)}")
    if args.device is not None:
        cfg = replace(cfg, device=args.device)
    if args.init is not None:
        if not Path(args.init).is_file():
            raise CommandError(f"--init {args.init}: no such model file")
        cfg = replace(cfg, init=args.init)
    run_dir = Path(args.out)
    existing = [p.name for p in (run_dir / "checkpoint.safetensors", run_dir / "model.safetensors") if p.exists()]
    if existing and not args.resume:  # a new run would replace them
        raise CommandError(f"--out {args.out}: holds a run ({', '.join(existing)}); add --resume to continue it "
                           "or give another folder")
    try:
        trainer = Trainer(cfg, args.data, args.out, resume=args.resume)
    except (KeyError, RuntimeError) as e:
        if not args.resume:
            raise
        raise CommandError(f"{run_dir / 'checkpoint.safetensors'}: not a training checkpoint of this config "
                           f"({type(e).__name__}: {str(e).splitlines()[0][:100] if str(e) else ''})") from None
    if trainer.step:
        print(f"resuming {args.out} at step {trainer.step}")
    try:
        result = trainer.run()
    except TrainingCollapsed as e:
        print(f"{args.out}: {e}", file=sys.stderr)
        return 1
    if trainer.world > 1:
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()
        if trainer.rank != 0:
            return 130 if trainer.stop_requested else 0
    status = "stopped" if trainer.stop_requested else "finished"
    print(f"{status} at step {result['step']} ({result['seconds']:.0f} s); checkpoint {trainer.checkpoint_path}, "
          f"model {Path(args.out) / 'model.safetensors'}")
    return 130 if trainer.stop_requested else 0
