"""The reconstruction trainer: it learns, resumes exactly, and refuses bad datasets."""
import json
import shutil

import pytest
import torch

from cli import main
from training.data import DatasetError, HeadDataset
from training.trainer import TrainConfig, Trainer

TINY_MODEL = dict(latent_dim=16, w_dim=32, mapping_layers=2, expression_dim=8, synthesis_channels=(32, 32, 16),
                  plane_resolution=16, plane_channels=8, decoder_hidden=16, shading_features=4, shading_hidden=8,
                  superres_channels=8, density_grid_resolution=16)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("train") / "data"
    assert main(["synth", "--identities", "2", "--views-per-identity", "3", "--res", "32", "--passes",
                 "--background", "plain", "--out", str(out)]) == 0
    return out


def config(**kw):
    base = dict(steps=4, batch=2, neural_resolution=8, coarse_samples=8, importance_samples=8, checkpoint_every=2,
                model=TINY_MODEL)
    base.update(kw)
    return TrainConfig(**base)


def test_dataset_loads_every_label(dataset):
    from core.expression import DEFAULT_EXPRESSION_NAMES

    ds = HeadDataset(dataset, 16, DEFAULT_EXPRESSION_NAMES)
    assert len(ds) == 6 and ds.n_identities == 2
    s = ds.samples[0]
    assert s.image.shape == (16, 16, 3) and s.alpha.shape == (16, 16) and s.albedo.shape == (16, 16, 3)
    assert s.sh.shape == (9, 3)


def test_loss_goes_down(dataset, tmp_path):
    t = Trainer(config(steps=30, checkpoint_every=100), dataset, tmp_path / "run")
    first = sum(t.train_step()["loss"] for _ in range(3)) / 3
    for _ in range(24):
        t.train_step()
    last = sum(t.train_step()["loss"] for _ in range(3)) / 3
    assert last < 0.8 * first


def test_resume_is_exact(dataset, tmp_path):
    """Across the switch from the coarse naive stage to the band sampler, with a cosine
    learning rate: 4 straight steps == 2 steps, killed after the step-2 checkpoint, 2 more
    in a new trainer."""
    staged = dict(coarse_steps=2, coarse_resolution=4, sampler="band", band_samples=8, lr_schedule="cosine")
    straight = Trainer(config(steps=4, **staged), dataset, tmp_path / "a")
    straight.run(progress=False)
    half = Trainer(config(steps=4, **staged), dataset, tmp_path / "b")
    for _ in range(2):
        half.train_step()
    half.save()  # the periodic checkpoint (checkpoint_every=2); then the process dies
    del half
    resumed = Trainer(config(steps=4, **staged), dataset, tmp_path / "b", resume=True)
    assert resumed.step == 2
    resumed.run(progress=False)
    for (k, a), (_, b) in zip(straight.model.state_dict().items(), resumed.model.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=k)
    torch.testing.assert_close(straight.codes, resumed.codes)


def test_a_collapsing_run_stops_and_keeps_its_last_good_checkpoint(dataset, tmp_path):
    """When the silhouette falls apart (the alpha error jumps far above the previous
    checkpoint interval's), the run stops before overwriting the last good checkpoint."""
    from safetensors import safe_open

    from training.trainer import TrainingCollapsed

    t = Trainer(config(steps=8, checkpoint_every=2), dataset, tmp_path / "run")
    real_step = t.train_step

    def step():
        logs = real_step()
        if t.step > 4:  # the head vanishes after step 4
            logs["alpha"] = 0.3 * t.cfg.weight_alpha
        else:
            logs["alpha"] = 0.002 * t.cfg.weight_alpha
        return logs

    t.train_step = step
    with pytest.raises(TrainingCollapsed, match="step 6: the head is falling apart.*checkpoint of step 4 is kept"):
        t.run(progress=False)
    with safe_open(str(tmp_path / "run" / "checkpoint.safetensors"), framework="pt") as f:
        assert f.metadata()["step"] == "4"
    # off: the same run goes to the end
    t = Trainer(config(steps=8, checkpoint_every=2, collapse_guard=0.0), dataset, tmp_path / "off")
    real_step = t.train_step
    t.train_step = step
    assert t.run(progress=False)["step"] == 8


def test_stages_and_learning_rate_schedule():
    cfg = config(steps=100, coarse_steps=30, coarse_resolution=4, sampler="band", lr_schedule="cosine", lr_final=0.1)
    res, plan = cfg.stage(29)
    assert res == 4 and plan.naive and plan.jitter
    res, plan = cfg.stage(30)
    assert res == 8 and not plan.naive and plan.band_samples == cfg.band_samples and plan.jitter
    factors = [cfg.lr_factor(s) for s in range(100)]
    assert factors[0] == pytest.approx(1.0) and factors[-1] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(factors, factors[1:]))
    assert config(steps=100).lr_factor(99) == 1.0
    with pytest.raises(ValueError, match="sampler"):
        TrainConfig.from_file(None, ["sampler=\"fast\""])


def test_band_training_depths_are_jittered_inside_the_band():
    from core.model.rendering import band_depths

    a, b = torch.tensor([1.0, 2.0]), torch.tensor([2.0, 2.5])
    fixed = band_depths(a, b, 8)
    assert torch.equal(fixed, band_depths(a, b, 8))
    g = torch.Generator().manual_seed(0)
    j1, j2 = band_depths(a, b, 8, True, g), band_depths(a, b, 8, True, g)
    assert not torch.equal(j1, j2)
    for d in (j1, j2):
        assert (d >= a[:, None]).all() and (d <= b[:, None]).all() and (d[:, 1:] > d[:, :-1]).all()


def test_monitor_writes_scalars_and_sample_grids(dataset, tmp_path):
    import numpy as np
    from PIL import Image
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    Trainer(config(steps=4, log_every=2, sample_every=2, checkpoint_every=4), dataset, run).run(progress=False)
    grids = sorted((run / "samples").glob("*.png"))
    assert [p.name for p in grids] == ["step_000002.png", "step_000004.png"]
    grid = np.asarray(Image.open(grids[-1]))
    assert grid.shape == (2 * 16, 4 * 16, 3)  # 2 identities x (target, render, albedo, normal), 8 x superres 2
    assert grid[:, :16].std() > 0.02  # the target column holds an image
    events = EventAccumulator(str(run / "tb"))
    events.Reload()
    assert {"loss/rgb", "loss/loss", "lr/lr", "speed/steps_per_s"} <= set(events.Tags()["scalars"])
    assert [e.step for e in events.Scalars("loss/rgb")] == [2, 4]
    assert events.Tags()["images"] == ["samples"]


def test_identity_fit_weighs_the_face_regions(dataset, tiny_config):
    """The fit's extra loss over the eyes, brows and mouth: with a region mask in the
    targets the first step's loss grows with region_weight by exactly that term, and
    without one (a person's own photos) the weight changes nothing."""
    from core.model.config import ModelConfig
    from core.model.head import NeuralHeadModel
    from training.identity_fit import IdentityFitConfig, fit_identity_code

    torch.manual_seed(0)
    model = NeuralHeadModel(ModelConfig(**dict(tiny_config.to_json(), density_bias=1.0)))
    ds = HeadDataset(dataset, 16, model.cfg.expression_names)

    def first_loss(weight, with_region):
        def targets(sample, size):
            t = ds.targets(sample, size)
            if with_region:
                t["region"] = torch.ones(size, size)
            else:
                t.pop("region", None)
            return t
        cfg = IdentityFitConfig(steps=1, neural_resolution=8, coarse_samples=8, importance_samples=8,
                                region_weight=weight)
        return fit_identity_code(model, ds.samples[:1], targets, cfg)[1][0]

    assert first_loss(5.0, True) > first_loss(0.0, True) + 1e-4
    assert first_loss(5.0, False) == pytest.approx(first_loss(0.0, False), abs=1e-7)


def test_identity_fit_recovers_a_head_the_model_can_render(dataset, tiny_config):
    """Targets rendered by the model itself with a hidden code: fitting from the prior
    mean on three views brings their loss down and a fourth, unfitted view closer too."""
    from core.model.config import ModelConfig
    from core.model.head import NeuralHeadModel, SamplingPlan
    from training.data import Sample
    from training.identity_fit import IdentityFitConfig, fit_identity_code
    from training.losses import render_sample

    torch.manual_seed(0)
    model = NeuralHeadModel(ModelConfig(**dict(tiny_config.to_json(), density_bias=1.0)))
    ds = HeadDataset(dataset, 16, model.cfg.expression_names)
    hidden = torch.randn(model.cfg.latent_dim)
    views = []
    with torch.no_grad():
        for s in ds.samples[:4]:
            g, surface, frame = render_sample(model, hidden, s, 8, SamplingPlan(naive=True, coarse=8, importance=8))
            straight = frame.rgb / g.alpha[..., None].clamp_min(1e-6)  # the loss compares colour x alpha
            views.append(Sample(s.name, straight.numpy(), s.camera, s.sh, s.expression, 0, alpha=g.alpha.numpy()))
    code, losses = fit_identity_code(model, views[:3], ds.targets,
                                     IdentityFitConfig(steps=60, lr=0.05, neural_resolution=8, coarse_samples=8,
                                                       importance_samples=8, prior_weight=0.0))
    assert sum(losses[-6:]) < 0.5 * sum(losses[:6])
    plan = SamplingPlan(naive=True, coarse=8, importance=8)
    with torch.no_grad():
        truth = torch.as_tensor(views[3].image) * torch.as_tensor(views[3].alpha)[..., None]
        errors = [(render_sample(model, c, views[3], 8, plan)[2].rgb - truth).abs().mean()
                  for c in (model.prior_mean, torch.as_tensor(code, dtype=torch.float32))]
    assert errors[1] < 0.7 * errors[0]
    assert all(p.requires_grad for p in model.parameters())  # the model is left trainable


def test_cli_writes_a_model_the_engine_opens(dataset, tmp_path):
    from core.engine import InferenceEngine

    cfg = tmp_path / "train.json"
    cfg.write_text(json.dumps({"steps": 2, "checkpoint_every": 2, "neural_resolution": 8, "coarse_samples": 8,
                               "importance_samples": 8, "model": TINY_MODEL}))
    assert main(["train", "--config", str(cfg), "--data", str(dataset), "--out", str(tmp_path / "run")]) == 0
    engine = InferenceEngine.from_checkpoint(tmp_path / "run" / "model.safetensors", "cpu")
    assert engine.render(engine.default_state()).frame.rgb.shape[-1] == 3


@pytest.mark.parametrize("breakage,needle", [
    (lambda d: shutil.rmtree(d), "no such dataset folder"),
    (lambda d: (d / "dataset.json").unlink(), "dataset.json: missing"),
    (lambda d: (d / "dataset.json").write_text(json.dumps({"labels": []})), "empty"),
    (lambda d: (d / "dataset.json").write_text(json.dumps({"labels": [["images/00000_00.png", [0.0] * 24]]})),
     "25 floats"),
    (lambda d: (d / "images" / "00000_00.png").unlink(), ": missing"),
])
def test_bad_datasets_are_one_line_errors(dataset, tmp_path, capsys, breakage, needle):
    broken = tmp_path / "broken"
    shutil.copytree(dataset, broken)
    breakage(broken)
    assert main(["train", "--data", str(broken), "--out", str(tmp_path / "run"), "--set", "steps=1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err


def test_eval_reports_every_figure(dataset, tmp_path, capsys):
    cfg = tmp_path / "train.json"
    cfg.write_text(json.dumps({"steps": 2, "checkpoint_every": 2, "neural_resolution": 8, "coarse_samples": 8,
                               "importance_samples": 8, "model": TINY_MODEL}))
    assert main(["train", "--config", str(cfg), "--data", str(dataset), "--out", str(tmp_path / "run")]) == 0
    held_out = tmp_path / "held_out"
    assert main(["synth", "--identities", "2", "--views-per-identity", "1", "--res", "32", "--passes",
                 "--background", "plain", "--view-seed", "9", "--out", str(held_out)]) == 0
    out = tmp_path / "eval.json"
    assert main(["eval", "--model", str(tmp_path / "run" / "model.safetensors"), "--data", str(held_out),
                 "--json", str(out), "--neural-resolution", "8"]) == 0
    result = json.loads(out.read_text())
    assert result["samples"] == 2 and result["neural_resolution"] == 8 and result["fitted_identities"] == 0
    for key in ("psnr", "ssim", "albedo_psnr", "normal_deg", "relight_psnr", "expression_psnr",
                "expression_change_corr"):
        assert key in result["summary"]
    # the held-out views are new views of the same heads
    train_names = {r[0] for r in json.loads((dataset / "dataset.json").read_text())["labels"]}
    held = json.loads((held_out / "dataset.json").read_text())
    assert held["identity_parameters"] == json.loads((dataset / "dataset.json").read_text())["identity_parameters"]
    assert [r[1] for r in held["labels"]][0] not in [r[1] for r in json.loads((dataset / "dataset.json").read_text())["labels"]]
    assert train_names


def test_eval_fits_heads_the_model_never_saw(dataset, tmp_path, capsys):
    """Another seed numbers its heads from 0 too: they must not be taken for the trained
    heads 0 and 1 (identities are matched by their parameters), and they are measured on
    views that were not used to fit their codes."""
    cfg = tmp_path / "train.json"
    cfg.write_text(json.dumps({"steps": 2, "checkpoint_every": 2, "neural_resolution": 8, "coarse_samples": 8,
                               "importance_samples": 8, "model": TINY_MODEL}))
    assert main(["train", "--config", str(cfg), "--data", str(dataset), "--out", str(tmp_path / "run")]) == 0
    model = str(tmp_path / "run" / "model.safetensors")
    other = tmp_path / "other"
    assert main(["synth", "--identities", "1", "--views-per-identity", "4", "--res", "32", "--passes",
                 "--background", "plain", "--seed", "5", "--out", str(other)]) == 0
    capsys.readouterr()
    assert main(["eval", "--model", model, "--data", str(other), "--neural-resolution", "8"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--fit-steps" in err[0]
    out = tmp_path / "eval.json"
    assert main(["eval", "--model", model, "--data", str(other), "--neural-resolution", "8", "--fit-steps", "3",
                 "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["fitted_identities"] == 1 and result["samples"] == 2
    assert [r["name"] for r in result["per_sample"]] == ["images/00000_02.png", "images/00000_03.png"]


def test_two_gloo_processes_under_torchrun(dataset, tmp_path):
    """torchrun with 2 CPU processes (gloo): same start, gradients averaged, one checkpoint."""
    import subprocess
    import sys
    from pathlib import Path

    from safetensors import safe_open

    cfg = tmp_path / "train.json"
    cfg.write_text(json.dumps({"steps": 3, "checkpoint_every": 3, "batch": 1, "neural_resolution": 8,
                               "coarse_samples": 8, "importance_samples": 8, "model": TINY_MODEL}))
    root = Path(__file__).resolve().parents[2]
    p = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
                        "-m", "cli", "train", "--config", str(cfg), "--data", str(dataset),
                        "--out", str(tmp_path / "ddp")], cwd=root, capture_output=True, text=True, timeout=300,
                       stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr[-3000:]
    with safe_open(str(tmp_path / "ddp" / "checkpoint.safetensors"), framework="pt") as f:
        assert f.metadata()["step"] == "3"
    assert p.stdout.count("finished at step 3") == 1  # rank 0 reports, rank 1 stays quiet


def test_training_can_start_from_a_model(dataset, tmp_path, tiny_config):
    from core.checkpoint import save_checkpoint
    from core.model.head import NeuralHeadModel

    torch.manual_seed(123)
    start = NeuralHeadModel(tiny_config)
    path = tmp_path / "start.safetensors"
    save_checkpoint(start, path)
    t = Trainer(config(init=str(path), model=tiny_config.to_json()), dataset, tmp_path / "run")
    for (k, a), (_, b) in zip(start.state_dict().items(), t.model.state_dict().items()):
        assert torch.equal(a, b), k
    other = dict(TINY_MODEL, decoder_hidden=32)
    with pytest.raises(ValueError, match="architecture differs"):
        Trainer(config(init=str(path), model=other), dataset, tmp_path / "run2")


def test_chamfer_of_offset_spheres():
    import trimesh

    from training.evaluate import chamfer

    a = trimesh.creation.icosphere(subdivisions=4, radius=1.0)
    b = trimesh.creation.icosphere(subdivisions=4, radius=1.1)
    assert chamfer(a, a) < 0.02
    assert abs(chamfer(a, b) - 0.1) < 0.02


def test_personal_fine_tune_options(dataset, tmp_path, tiny_config):
    """tune=pti moves only the pivotal-tuning layers; during code_steps no weight moves but
    the codes and the light scale do; weight_init is logged; the learnt light scale is
    saved in the model's provenance and survives a resume; a person the starting model
    never saw starts at its prior mean."""
    from core.checkpoint import load_checkpoint, save_checkpoint
    from core.fitting.fit import pti_parameter_names
    from core.model.head import NeuralHeadModel

    torch.manual_seed(5)
    start = NeuralHeadModel(tiny_config)
    start.set_prior(torch.full((tiny_config.latent_dim,), 0.25), torch.eye(tiny_config.latent_dim))
    path = tmp_path / "start.safetensors"
    save_checkpoint(start, path)
    kw = dict(init=str(path), model=tiny_config.to_json(), tune="pti", code_steps=2, learn_light_scale=True,
              weight_init=1.0, steps=5, batch=1, lr=1e-2, checkpoint_every=100)
    t = Trainer(config(**kw), dataset, tmp_path / "run")
    torch.testing.assert_close(t.codes.detach(), torch.full_like(t.codes, 0.25))
    before = {k: v.clone() for k, v in t.model.state_dict().items()}
    tuned = set(pti_parameter_names(t.model))
    assert tuned and len(tuned) < len(dict(t.model.named_parameters()))
    for _ in range(2):
        logs = t.train_step()
    assert "init" not in logs
    for k, v in t.model.state_dict().items():
        assert torch.equal(v, before[k]), f"{k} moved during code_steps"
    assert not torch.allclose(t.codes.detach(), torch.full_like(t.codes, 0.25))
    assert t.light_log_scale.detach().abs().max() > 0
    for _ in range(2):
        logs = t.train_step()
    assert "init" in logs
    moved = {k for k, p in t.model.named_parameters() if not torch.equal(p.detach(), before[k])}
    assert moved and moved <= tuned
    t.save()
    scale = torch.exp(t.light_log_scale.detach())
    _, provenance = load_checkpoint(tmp_path / "run" / "model.safetensors")
    torch.testing.assert_close(torch.tensor(provenance["light_scale"]), scale)
    resumed = Trainer(config(**kw), dataset, tmp_path / "run", resume=True)
    torch.testing.assert_close(torch.exp(resumed.light_log_scale.detach()), scale)
    with pytest.raises(ValueError, match="tune"):
        TrainConfig.from_file(None, ["tune=some"])
    personal = Trainer(config(**dict(kw, tune="personal")), dataset, tmp_path / "run3")
    names = set(personal.tuned_names)
    assert tuned < names and any(n.startswith("superres.") for n in names)
    assert not any(n.startswith(("expression_blend.", "mapping.")) for n in names)


def test_camera_refinement_moves_only_the_samples_a_step_saw(dataset, tmp_path):
    from core.checkpoint import load_checkpoint
    from training.view_refine import corrected_rays, rotation_matrix
    from core.camera import generate_rays

    kw = dict(refine_cameras=True, refine_lights=True, steps=3, batch=1, camera_lr=1e-2)
    t = Trainer(config(**kw), dataset, tmp_path / "run")
    t.train_step()
    moved = (t.label_corrections.abs().sum(1) > 0).nonzero().flatten().tolist()
    assert len(moved) == 1
    row = t.label_corrections[moved[0]]
    assert row[:4].abs().sum() > 0 and row[4:31].abs().sum() > 0
    assert row[31:].abs().sum() == 0   # expressions were not refined
    t.save()
    _, provenance = load_checkpoint(tmp_path / "run" / "model.safetensors")
    name = t.data.samples[moved[0]].name
    assert provenance["label_corrections"][name] == pytest.approx(row.tolist(), abs=1e-5)
    resumed = Trainer(config(**kw), dataset, tmp_path / "run", resume=True)
    torch.testing.assert_close(resumed.label_corrections, t.label_corrections)
    # a zero correction is the labelled camera; a rotation turns the rays about the look-at point
    cam = t.data.samples[0].camera
    o0, d0 = generate_rays(cam, 8, 8)
    o1, d1 = corrected_rays(cam, 8, torch.zeros(4))
    torch.testing.assert_close(o0, o1)
    torch.testing.assert_close(d0, d1, atol=1e-6, rtol=1e-5)
    r = rotation_matrix(torch.tensor([0.0, 0.3, 0.0]))
    torch.testing.assert_close(r @ r.T, torch.eye(3), atol=1e-6, rtol=1e-6)
    assert r[0, 2] == pytest.approx(float(torch.sin(torch.tensor(0.3))), abs=1e-6)
