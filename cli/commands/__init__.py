"""One module per `avatar-studio` command, each with NAME, add_parser(subparsers) and
run(args) -> int (and, optionally, OUTPUT_FILES / OUTPUT_FOLDERS: the flags naming what it
writes, checked before any work). Keep the module level light (argparse and cli.common):
heavy imports go inside run(), so `render` does not pay for Qt, dlib or the synthetic engine."""
