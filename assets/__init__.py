"""Data the program needs at run time: the bundled head model (and its card) and the
face tracker's model. A package so that wheels carry it beside core/."""
