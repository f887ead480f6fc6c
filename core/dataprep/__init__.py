"""Dataset preparation from a user's own photos and videos (`avatar-studio prepare`):
`prepare.prepare` runs it, `mirror` mirrors a sample and its labels, `quality` holds the
filters. No Qt, no CLI here."""
