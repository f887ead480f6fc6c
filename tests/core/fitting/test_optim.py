"""The fit's own Adam and cosine schedule follow torch.optim's step for step (the fit
avoids torch.optim only for its import cost, core/fitting/optim.py)."""
import pytest
import torch

from core.fitting.optim import Adam, CosineSchedule


def test_adam_with_cosine_matches_torch():
    torch.manual_seed(0)
    start = [torch.randn(5, 3), torch.randn(7)]
    ours = [torch.nn.Parameter(t.clone()) for t in start]
    theirs = [torch.nn.Parameter(t.clone()) for t in start]
    opt = Adam([{"params": [ours[0]], "lr": 0.05}, {"params": [ours[1]], "lr": 0.01}])
    sched = CosineSchedule(opt, 20)
    ref = torch.optim.Adam([{"params": [theirs[0]], "lr": 0.05}, {"params": [theirs[1]], "lr": 0.01}])
    ref_sched = torch.optim.lr_scheduler.CosineAnnealingLR(ref, 20, eta_min=0.0)
    target = torch.randn(5, 3)
    for _ in range(20):   # the fit steps its schedule exactly `steps` times
        for params, o in ((ours, opt), (theirs, ref)):
            o.zero_grad(set_to_none=True)
            loss = (params[0] - target).pow(2).sum() + params[1].sin().sum()
            loss.backward()
            o.step()
        sched.step()
        ref_sched.step()
        for a, b in zip(ours, theirs):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([g["lr"] for g in ref.param_groups], abs=1e-9)
