"""Presets (lighting, expressions) read at run time. A package so that wheels carry it
beside core/."""
