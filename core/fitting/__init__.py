"""Photo to avatar: alignment (align.py), the starting lighting (sh_estimate.py) and the
optimisation of a model's identity, expression, lighting and camera against a photo
(fit.py). See docs/photo-fitting.md."""
