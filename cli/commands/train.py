"""`avatar-studio train`: train a head model on a labelled multi-view dataset
(training/trainer.py). Data parallel: `torchrun --nproc_per_node 2 -m cli train ...`."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

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
    t.add_argument("--set", nargs="*", metavar="KEY=VALUE",
                   help="override settings by their type, e.g. steps=500 sampler=band model.superres_factor=2")


def run(args) -> int:
    from training.trainer import Trainer, TrainConfig

    cfg = TrainConfig.from_file(args.config, args.set or ())
    if args.device is not None:
        cfg = replace(cfg, device=args.device)
    trainer = Trainer(cfg, args.data, args.out, resume=args.resume)
    if trainer.step:
        print(f"resuming {args.out} at step {trainer.step}")
    result = trainer.run()
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
