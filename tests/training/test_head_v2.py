"""Head model v2's pieces: paired expression data, the linear expression blend, the
expression-change loss, partial initialisation, and the per-name expression eval."""
import json

import numpy as np
import pytest
import torch

from cli import main
from core.expression import DEFAULT_EXPRESSION_NAMES
from core.model.config import ModelConfig
from core.model.head import NeuralHeadModel
from training.data import HeadDataset, face_region_mask
from training.trainer import TrainConfig, Trainer

@pytest.fixture
def tiny(tiny_config):
    """The suite's tiny model sizes (tests/conftest.py) as a dict of ModelConfig fields."""
    return tiny_config.to_json()


@pytest.fixture(scope="module")
def paired(tmp_path_factory):
    out = tmp_path_factory.mktemp("paired") / "data"
    assert main(["synth", "--identities", "2", "--views-per-identity", "2", "--expression-variants", "3",
                 "--res", "32", "--passes", "--background", "plain", "--seed", "3", "--out", str(out)]) == 0
    return out


def test_variants_share_head_view_and_light_and_start_neutral(paired):
    meta = json.loads((paired / "dataset.json").read_text())
    groups = {}
    for name, label in meta["labels"]:
        groups.setdefault(meta["view_group"][name], []).append((name, label))
    assert len(groups) == 4 and all(len(m) == 3 for m in groups.values())
    for members in groups.values():
        names = [n for n, _ in members]
        assert [n.rsplit("_", 1)[1] for n in names] == ["0.png", "1.png", "2.png"]
        assert all(label == members[0][1] for _, label in members)          # one camera
        assert all(meta["sh"][n] == meta["sh"][names[0]] for n in names)   # one light
        assert not any(meta["expression"][names[0]].values())               # neutral first
        for n in names[1:]:
            assert max(meta["expression"][n].values()) >= 0.6               # one strong name at least
    ds = HeadDataset(paired, 16, DEFAULT_EXPRESSION_NAMES)
    assert len(ds.groups) == 4
    for g in ds.groups:
        assert not ds.samples[g[0]].expression.any()
        assert ds.samples[g[0]].region is not None and ds.samples[g[0]].region.shape == (16, 16)


def test_strong_expressions_cover_every_name_at_full_strength():
    from training.synth.sampling import sample_strong_expression

    rng = np.random.default_rng(0)
    seen = np.zeros(len(DEFAULT_EXPRESSION_NAMES))
    for focus in range(4 * len(DEFAULT_EXPRESSION_NAMES)):
        seen = np.maximum(seen, sample_strong_expression(rng, DEFAULT_EXPRESSION_NAMES, focus).values)
    assert (seen >= 0.6).all()


def test_face_region_mask_covers_eyes_and_mouth():
    lm = np.zeros((68, 2))
    lm[17:27] = [[10 + i, 10] for i in range(10)]   # brows
    lm[36:42], lm[42:48] = [12, 14], [20, 14]       # eyes
    lm[48:68] = [16, 24]                            # mouth
    m = face_region_mask(lm.tolist(), 32, 32)
    assert m[14, 12] == 1 and m[24, 16] == 1 and m[2, 2] == 0 and m[30, 30] == 0
    half = face_region_mask(lm.tolist(), 32, 16)
    assert half.shape == (16, 16) and half[7, 6] == 1
    assert face_region_mask([[0, 0]] * 5, 32, 32) is None


def test_expression_blend_starts_at_zero_and_is_linear_per_name(tiny):
    torch.manual_seed(0)
    cfg = ModelConfig(**{**tiny, "expression_blend": True})
    model = NeuralHeadModel(cfg)
    plain = NeuralHeadModel(ModelConfig(**tiny))
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("expression_blend")})
    latent = torch.randn(1, cfg.latent_dim)
    ex = torch.rand(1, cfg.num_expressions)
    torch.testing.assert_close(model.generate_planes(latent, ex), plain.generate_planes(latent, ex))
    torch.nn.init.normal_(model.expression_blend.out.weight, std=0.1)
    ident = model.identity_features(latent)
    assert ident.deltas.shape == (1, cfg.num_expressions, 3, cfg.plane_channels, 16, 16)
    base = plain.planes(plain.identity_features(latent), ex)
    blended = model.planes(ident, ex)
    torch.testing.assert_close(blended - base, torch.einsum("be,beplhw->bplhw", ex, ident.deltas), atol=1e-5, rtol=1e-4)
    one = torch.zeros_like(ex)
    one[0, 3] = 1.0
    torch.testing.assert_close(model.planes(ident, one) - plain.planes(plain.identity_features(latent), one),
                               ident.deltas[:, 3], atol=1e-5, rtol=1e-4)
    # rendering (no gradients) sums only the names in use: the same planes
    from core.model.networks import ExpressionBlend

    sparse = torch.zeros_like(ex)
    sparse[0, [2, 7]] = torch.tensor([0.4, -0.3])
    planes = torch.randn(1, 3, cfg.plane_channels, 16, 16)
    full = planes + torch.einsum("be,beplhw->bplhw", sparse, ident.deltas)
    with torch.no_grad():
        torch.testing.assert_close(ExpressionBlend.apply(planes, ident.deltas, sparse), full)
        assert ExpressionBlend.apply(planes, ident.deltas, torch.zeros_like(ex)) is planes
    # a fit moves weights that start at zero: with gradients every name gets one
    weights = torch.zeros_like(ex, requires_grad=True)
    ExpressionBlend.apply(planes, ident.deltas.detach(), weights).square().sum().backward()
    assert (weights.grad.abs() > 0).all()


def test_expression_change_term_sees_a_missing_change():
    from core.model.head import GBuffer
    from training.losses import expression_change_term

    def rendered(rgb, alpha):
        g = GBuffer(rgb, rgb, rgb[..., :1], alpha, alpha)
        frame = type("F", (), {"rgb": rgb * alpha[..., None]})()
        return g, None, frame

    s = 24
    alpha = torch.ones(s, s)
    neutral = torch.full((s, s, 3), 0.5)
    smile = neutral.clone()
    smile[10:14, 6:18] = 0.9  # the truth's change: a small patch
    t_n, t_e = {"image": neutral, "alpha": alpha}, {"image": smile, "alpha": alpha}
    right = expression_change_term(rendered(neutral, alpha), rendered(smile, alpha), t_n, t_e)
    dead = expression_change_term(rendered(neutral, alpha), rendered(neutral, alpha), t_n, t_e)
    assert float(right) == pytest.approx(0.0, abs=1e-6)
    # a dead slider misses the whole change; averaged over the (dilated) changed region,
    # so it weighs more than in a whole-image mean
    whole_image = float((smile - neutral).abs().mean())
    assert float(dead) > 1.3 * whole_image

    # the right change plus a spurious one far from it (the cheeks move with the smile)
    spread = smile.clone()
    spread[0:4, 0:24] = 0.9
    truth_only = expression_change_term(rendered(neutral, alpha), rendered(spread, alpha), t_n, t_e)
    union = expression_change_term(rendered(neutral, alpha), rendered(spread, alpha), t_n, t_e, mask="union")
    # outside the truth's dilated region the first mask does not see it; the union does
    assert float(truth_only) < 1e-6
    assert float(union) > 0.05

    # a faint change (under the threshold) spread over the rest of the face: only the
    # everywhere mask sees it, at the scale of a wrong amplitude inside the truth's area
    faint = smile.clone()
    faint[20:24, :] += 0.015
    seen = {mask: float(expression_change_term(rendered(neutral, alpha), rendered(faint, alpha), t_n, t_e, mask=mask))
            for mask in ("truth", "union", "everywhere")}
    assert seen["truth"] < 1e-6 and seen["union"] < 1e-6
    assert seen["everywhere"] > 0.002   # 96 px x 3 x 0.015 over 4 channels x the 14 x 22 dilated patch
    assert float(expression_change_term(rendered(neutral, alpha), rendered(smile, alpha), t_n, t_e,
                                        mask="everywhere")) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="change mask"):
        expression_change_term(rendered(neutral, alpha), rendered(smile, alpha), t_n, t_e, mask="all")


def test_paired_training_and_partial_init(paired, tmp_path, tiny):
    from core.checkpoint import save_checkpoint

    torch.manual_seed(1)
    v1 = NeuralHeadModel(ModelConfig(**tiny))
    path = tmp_path / "v1.safetensors"
    save_checkpoint(v1, path, {})
    v2 = dict(tiny, superres_factor=4, superres_layers=2, expression_blend=True)
    base = dict(steps=2, batch=1, neural_resolution=4, sampler="band", band_samples=8, checkpoint_every=100,
                log_every=0, sample_every=0, model=v2, init=str(path), weight_change=1.0, weight_region=1.0,
                weight_shading=1.0)
    with pytest.raises(ValueError, match="architecture differs"):
        Trainer(TrainConfig(**base), paired, tmp_path / "strict")
    t = Trainer(TrainConfig(**base, init_partial=True), paired, tmp_path / "run")
    state = t.model.state_dict()
    torch.testing.assert_close(state["decoder.hidden.weight"], v1.state_dict()["decoder.hidden.weight"])
    assert "superres.conv2.weight" in t.init_report["tensors_fresh"]
    assert not state["expression_blend.out.weight"].any()
    logs = t.train_step()
    assert logs["change"] > 0 and "region" in logs and logs["shading"] > 0
    with pytest.raises(ValueError, match="view groups"):
        unpaired = tmp_path / "unpaired"
        assert main(["synth", "--identities", "1", "--views-per-identity", "2", "--res", "32", "--passes",
                     "--background", "plain", "--out", str(unpaired)]) == 0
        Trainer(TrainConfig(**base, init_partial=True), unpaired, tmp_path / "run2")


def test_eval_reports_every_expression_name(paired, tmp_path, tiny):
    from training.evaluate import evaluate

    run = tmp_path / "run"
    Trainer(TrainConfig(steps=1, batch=1, neural_resolution=8, checkpoint_every=1, log_every=0, sample_every=0,
                        model=tiny), paired, run).run(progress=False)
    result = evaluate(run / "model.safetensors", paired, max_samples=2, geometry=False, neural_resolution=8,
                      expression_samples=1)
    corr = result["expression_change_corr_by_name"]
    assert list(corr) == list(DEFAULT_EXPRESSION_NAMES) and result["expression_samples"] == 1
    assert all(-1.0 <= v <= 1.0 for v in corr.values())
    assert set(result["expression_pixel_ratio_by_name"]) == set(corr)
    assert result["summary"]["expression_change_corr_names_mean"] == pytest.approx(np.mean(list(corr.values())))
    assert "eye_psnr" in result["summary"] and "mouth_psnr" in result["summary"]


def test_focus_expressions_draw_their_pairs_more_often(paired, tmp_path, tiny):
    v2 = dict(tiny, superres_factor=4, superres_layers=2, expression_blend=True)
    base = dict(steps=1, batch=1, neural_resolution=4, sampler="band", band_samples=8, checkpoint_every=100,
                log_every=0, sample_every=0, model=v2, weight_change=1.0)
    t = Trainer(TrainConfig(**base), paired, tmp_path / "plain")
    assert t.pair_weights is None   # without focus the draw is the plain uniform one (runs resume alike)
    names = list(DEFAULT_EXPRESSION_NAMES)
    first = t.data.samples[t.data.groups[0][1]].expression   # a name the data has at full strength
    focus = names[int(np.argmax(first))]
    t = Trainer(TrainConfig(**base, focus_expressions=f"{focus}, eyeBlinkRight", focus_weight=5.0), paired,
                tmp_path / "focus")
    pairs, weights = t.pair_weights
    assert len(pairs) == sum(len(m) - 1 for m in t.data.groups)
    cols = [names.index(focus), names.index("eyeBlinkRight")]
    for (g, m), w in zip(pairs, weights.tolist()):
        hit = bool(np.any(t.data.samples[t.data.groups[g][m]].expression[cols] >= 0.5))
        assert w == (5.0 if hit else 1.0)
    assert weights.max() == 5.0 and weights.min() == 1.0
    assert t.train_step()["change"] >= 0
    with pytest.raises(ValueError, match="not among"):
        Trainer(TrainConfig(**base, focus_expressions="wink"), paired, tmp_path / "bad")
    with pytest.raises(ValueError, match="focus_weight"):
        TrainConfig.from_file(None, ["focus_weight=0"])


def test_shading_pass_supervises_the_lighting_residual(paired, tiny):
    """The engine's shading pass (irradiance x visibility) reaches the loss and, through it,
    the occlusion the lighting residual predicts: a dark eye can no longer be learned as a
    shadow while the engine says the eye is lit."""
    from core.model.head import SamplingPlan
    from training.losses import LossWeights, reconstruction_terms, render_sample

    assert HeadDataset(paired, 16, DEFAULT_EXPRESSION_NAMES).samples[0].shading is None  # only when asked
    ds = HeadDataset(paired, 16, DEFAULT_EXPRESSION_NAMES, shading=True)
    sample = ds.samples[0]
    assert sample.shading is not None and sample.shading.shape == (16, 16, 3)
    # premultiplied like the other passes: nothing outside the head
    assert float(sample.shading[sample.alpha < 0.01].max(initial=0.0)) < 0.02
    assert float(sample.shading[sample.alpha > 0.99].mean()) > 0.2
    torch.manual_seed(0)
    model = NeuralHeadModel(ModelConfig(**dict(tiny, superres_factor=2)))
    code = torch.zeros(model.cfg.latent_dim)
    target = ds.targets(sample, 8)
    assert target["shading"].shape == (8, 8, 3)
    rendered = render_sample(model, code, sample, 4, SamplingPlan(band_samples=8))
    assert "shading" not in reconstruction_terms(rendered, target, LossWeights())  # off by default
    terms = reconstruction_terms(rendered, target, LossWeights(shading=1.0))
    assert float(terms["shading"].detach()) > 0
    # the residual's output layer starts at zero (occlusion 1): its occlusion row learns from the term
    terms["shading"].backward()
    grad = model.lighting_residual.out.weight.grad
    assert grad is not None and float(grad[0].abs().sum()) > 0
    assert float(grad[1:].abs().sum()) == 0.0  # specular is not in the shading


def test_superres_grown_to_read_the_expression_starts_where_it_was(paired, tmp_path, tiny):
    """v2.4: the super-resolution also reads the expression weights (FiLM). A model grown
    from one without (init_partial: the modulation and added layers start at zero) renders
    the same G-buffer; once its new weights move, the expression changes the 2D output, and
    a model that reads it refuses to render without it."""
    from core.checkpoint import save_checkpoint

    torch.manual_seed(2)
    old_cfg = dict(tiny, superres_factor=2, superres_layers=2, expression_blend=True)
    old = NeuralHeadModel(ModelConfig(**old_cfg))
    with torch.no_grad():   # a trained network: nothing at zero
        for p in old.superres.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    path = tmp_path / "old.safetensors"
    save_checkpoint(old, path, {})
    grown_cfg = dict(old_cfg, superres_layers=4, superres_expression=True)
    t = Trainer(TrainConfig(steps=1, batch=1, neural_resolution=4, sampler="band", band_samples=8,
                            checkpoint_every=100, log_every=0, sample_every=0, model=grown_cfg, init=str(path),
                            init_partial=True), paired, tmp_path / "grown")
    new = t.model
    assert {n for n in t.init_report["tensors_fresh"]} == {
        "superres.film.weight", "superres.film.bias", "superres.body.1.weight", "superres.body.1.bias",
        "superres.body.2.weight", "superres.body.2.bias"}
    low, depth = torch.randn(1, old.gbuffer_channels, 6, 6), torch.rand(6, 6)
    blink = torch.zeros(1, old.cfg.num_expressions)
    blink[0, list(DEFAULT_EXPRESSION_NAMES).index("eyeBlinkLeft")] = 1.0
    with torch.no_grad():
        before = old.upsample_gbuffer(low, depth)
        for ex in (torch.zeros_like(blink), blink):
            torch.testing.assert_close(new.upsample_gbuffer(low, depth, ex).albedo, before.albedo)
        new.superres.film.weight.normal_(0, 0.5)
        neutral = new.upsample_gbuffer(low, depth, torch.zeros_like(blink)).albedo
        blinked = new.upsample_gbuffer(low, depth, blink).albedo
    assert float((blinked - neutral).abs().max()) > 1e-3
    with pytest.raises(ValueError, match="reads the expression"):
        new.upsample_gbuffer(low, depth)


def test_tune_superres_marches_each_view_once_and_moves_only_the_2d_network(paired, tmp_path, tiny, monkeypatch):
    from core.model.head import SamplingPlan
    from training.losses import march_sample

    model = dict(tiny, superres_factor=2, superres_layers=2, superres_expression=True, expression_blend=True)
    base = dict(steps=3, batch=2, neural_resolution=4, sampler="band", band_samples=8, checkpoint_every=100,
                log_every=0, sample_every=0, model=model, weight_change=1.0, lr=1e-2, code_lr=1e-2)
    with pytest.raises(ValueError, match="tune superres"):
        TrainConfig.from_file(None, ["tune=superres", "refine_cameras=true"])
    t = Trainer(TrainConfig(**base, tune="superres"), paired, tmp_path / "sr")
    assert t.tuned_names and all(n.startswith("superres.") for n in t.tuned_names)
    before = {k: v.clone() for k, v in t.model.state_dict().items()}
    codes = t.codes.detach().clone()
    calls = []
    monkeypatch.setattr("training.trainer.march_sample",
                        lambda *a, **k: calls.append(a[2].name) or march_sample(*a, **k))
    for _ in range(3):
        t.train_step()
    monkeypatch.undo()
    assert calls and len(calls) == len(set(calls)) == len(t._marched)   # each view marched once
    after = t.model.state_dict()
    moved = {k for k in before if not torch.equal(before[k], after[k])}
    assert moved and all(k.startswith("superres.") for k in moved)
    torch.testing.assert_close(t.codes.detach(), codes)
    # the kept G-buffer is the one the frozen field marches (no jitter)
    (i, res), (low, depth) = next(iter(t._marched.items()))
    assert res == 4
    s = t.data.samples[i]
    fresh, _ = march_sample(t.model, t.codes[s.identity].detach(), s, 4, SamplingPlan(band_samples=8))
    torch.testing.assert_close(low, fresh)


def test_tune_blend_moves_only_the_per_name_deltas_and_never_the_neutral_face(paired, tmp_path, tiny):
    from training.losses import render_sample

    model = dict(tiny, superres_factor=2, superres_layers=2, superres_expression=True, expression_blend=True)
    base = dict(steps=3, batch=2, neural_resolution=4, sampler="band", band_samples=8, checkpoint_every=100,
                log_every=0, sample_every=0, model=model, weight_change=1.0, lr=1e-2, code_lr=1e-2,
                change_mask="everywhere")
    t = Trainer(TrainConfig(**base, tune="blend"), paired, tmp_path / "blend")
    assert t.tuned_names and all(n.startswith("expression_blend.") for n in t.tuned_names)
    neutral = next(s for s in t.data.samples if not s.expression.any())
    plan = t.cfg.stage(0)[1]

    def neutral_image():
        with torch.no_grad():
            return render_sample(t.model, t.codes[neutral.identity], neutral, 4, plan,
                                 torch.Generator().manual_seed(0))[2].rgb

    before, image, codes = ({k: v.clone() for k, v in t.model.state_dict().items()}, neutral_image(),
                            t.codes.detach().clone())
    for _ in range(3):
        t.train_step()
    moved = {k for k, v in t.model.state_dict().items() if not torch.equal(before[k], v)}
    assert moved and all(k.startswith("expression_blend.") for k in moved)
    torch.testing.assert_close(t.codes.detach(), codes)
    torch.testing.assert_close(neutral_image(), image)
    with pytest.raises(ValueError, match="expression_blend"):
        Trainer(TrainConfig(**dict(base, model=dict(model, expression_blend=False)), tune="blend"), paired,
                tmp_path / "no-blend")


def test_alternate_resolution_trains_one_superres_on_both_neural_sizes(paired, tmp_path, tiny, monkeypatch):
    """The studio previews a drag at half the neural resolution: v2.4's super-resolution,
    trained at 64 alone, drew streaks at 32. alternate_resolution makes every other step
    march (and supervise) the smaller size; tune superres keeps one G-buffer per view and size."""
    from training.losses import march_sample

    with pytest.raises(ValueError, match="alternate_resolution"):
        TrainConfig.from_file(None, ["alternate_resolution=-1"])
    model = dict(tiny, superres_factor=2, superres_layers=2, superres_expression=True, expression_blend=True)
    cfg = TrainConfig(steps=4, batch=2, neural_resolution=8, alternate_resolution=4, sampler="band", band_samples=8,
                      checkpoint_every=100, log_every=0, sample_every=0, model=model, weight_change=1.0, lr=1e-2,
                      tune="superres")
    assert [cfg.stage(s)[0] for s in range(4)] == [8, 4, 8, 4]
    t = Trainer(cfg, paired, tmp_path / "sr")
    calls, sizes = [], []
    monkeypatch.setattr("training.trainer.march_sample",
                        lambda *a, **k: calls.append((a[2].name, a[3])) or march_sample(*a, **k))
    real_targets = t.data.targets
    monkeypatch.setattr(t.data, "targets", lambda sample, size: sizes.append(size) or real_targets(sample, size))
    for _ in range(4):
        t.train_step()
    monkeypatch.undo()
    assert {r for _, r in calls} == {8, 4}
    assert len(calls) == len(set(calls)) == len(t._marched)   # each (view, size) marched once
    assert {low.shape[-1] for low, _ in t._marched.values()} == {8, 4}
    assert set(sizes) == {16, 8}   # the loss compares at each size's output (x2 here)


def test_preview_superres_starts_as_the_main_one_and_tunes_alone_at_its_size(paired, tmp_path, tiny):
    """v2.5: G-buffers superres_preview_side wide or narrower (the drag preview's) go through
    a second super-resolution. Grown from a model without one it starts as a copy of the
    main network; tune superres at the preview's size moves it and leaves the main one."""
    from core.checkpoint import save_checkpoint
    from core.fitting.fit import pti_parameter_names

    with pytest.raises(ValueError, match="superres_preview_side"):
        ModelConfig(**dict(tiny, superres_preview_side=-1))
    torch.manual_seed(4)
    old_cfg = dict(tiny, superres_factor=2, superres_layers=2, superres_expression=True, expression_blend=True)
    old = NeuralHeadModel(ModelConfig(**old_cfg))
    assert old.superres_preview is None
    with torch.no_grad():
        for p in old.superres.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    path = tmp_path / "old.safetensors"
    save_checkpoint(old, path, {})
    cfg = TrainConfig(steps=2, batch=2, neural_resolution=4, sampler="band", band_samples=8, checkpoint_every=100,
                      log_every=0, sample_every=0, model=dict(old_cfg, superres_preview_side=4), init=str(path),
                      init_partial=True, tune="superres", weight_change=1.0, lr=1e-2)
    t = Trainer(cfg, paired, tmp_path / "preview")
    new = t.model
    assert t.init_report["tensors_fresh"] == []   # the preview network is the main one's copy
    assert new.superres_for(4) is new.superres_preview and new.superres_for(5) is new.superres
    ex = torch.zeros(1, old.cfg.num_expressions)
    with torch.no_grad():
        for side in (4, 8):
            low, depth = torch.randn(1, old.gbuffer_channels, side, side), torch.rand(side, side)
            torch.testing.assert_close(new.upsample_gbuffer(low, depth, ex).albedo,
                                       old.upsample_gbuffer(low, depth, ex).albedo)
    before = {k: v.clone() for k, v in new.state_dict().items()}
    for _ in range(2):
        t.train_step()
    moved = {k for k, v in new.state_dict().items() if not torch.equal(before[k], v)}
    assert moved and all(k.startswith("superres_preview.") for k in moved)
    # photo fitting's pivotal tuning moves the super-resolution its own size goes through
    assert any(n.startswith("superres_preview.") for n in pti_parameter_names(new, True, side=4))
    at_64 = pti_parameter_names(new, True, side=64)
    assert any(n.startswith("superres.") for n in at_64) and not any("preview" in n for n in at_64)


def test_model_from_init_fine_tunes_whichever_architecture_it_is_given(paired, tmp_path, tiny):
    """The personal recipe names no architecture: it fine-tunes the model the user opened,
    and the bundled model's architecture changes between versions (v2.4 broke a recipe that
    spelled out v2.3's)."""
    from core.checkpoint import save_checkpoint

    arch = dict(tiny, superres_factor=2, superres_layers=3, superres_expression=True, expression_blend=True)
    path = tmp_path / "opened.safetensors"
    save_checkpoint(NeuralHeadModel(ModelConfig(**arch)), path, {})
    base = dict(steps=1, batch=1, neural_resolution=4, sampler="band", band_samples=8, checkpoint_every=100,
                log_every=0, sample_every=0, init=str(path))
    with pytest.raises(ValueError, match="architecture differs"):
        Trainer(TrainConfig(**base, model=tiny), paired, tmp_path / "strict")
    t = Trainer(TrainConfig(**base, model=tiny, model_from_init=True), paired, tmp_path / "run")
    assert t.model.cfg == ModelConfig(**arch)
    assert t.train_step()["rgb"] > 0
    with pytest.raises(ValueError, match="no `init`"):
        Trainer(TrainConfig(**dict(base, init=""), model_from_init=True), paired, tmp_path / "none")


def test_new_identities_of_a_fine_tune_start_from_a_fitted_code(paired, tmp_path, tiny, capsys):
    """A fine-tune on a dataset with heads its init model never saw: with init_fit_steps
    each new head starts from a code fitted on its views (the prior mean otherwise), the
    known heads keep theirs, and a resumed run does not fit again."""
    from core.checkpoint import load_checkpoint

    base = dict(steps=1, batch=1, neural_resolution=4, sampler="band", band_samples=8, checkpoint_every=1,
                log_every=0, sample_every=0, model=tiny)
    Trainer(TrainConfig(**base), paired, tmp_path / "first").run(progress=False)
    init = tmp_path / "first" / "model.safetensors"
    _, provenance = load_checkpoint(init)
    more = tmp_path / "more"
    assert main(["synth", "--identities", "3", "--views-per-identity", "2", "--expression-variants", "3",
                 "--res", "32", "--passes", "--background", "plain", "--seed", "3", "--out", str(more)]) == 0
    plain = Trainer(TrainConfig(**base, init=str(init)), more, tmp_path / "plain")
    fitted = Trainer(TrainConfig(**base, init=str(init), init_fit_steps=4), more, tmp_path / "fitted")
    assert plain.init_report["codes_taken"] == 2 and plain.init_report["codes_missing"] == [2]
    mean = plain.model.prior_mean
    torch.testing.assert_close(plain.codes[2].detach(), mean)
    assert float((fitted.codes[2].detach() - mean).abs().max()) > 1e-3
    for i in (0, 1):
        known = torch.as_tensor(provenance["identity_codes"][i], dtype=torch.float32)
        torch.testing.assert_close(fitted.codes[i].detach(), known)
    fitted.run(progress=False)
    resumed = Trainer(TrainConfig(**base, init=str(init), init_fit_steps=4), more, tmp_path / "fitted",
                      resume=True)
    torch.testing.assert_close(resumed.codes.detach(), fitted.codes.detach())
    assert "fitted a code" not in capsys.readouterr().out.split("init from")[-1]
