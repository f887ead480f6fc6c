"""`python -m cli COMMAND ...` (what `./dev cli` and torchrun use)."""
import sys

from cli import main

sys.exit(main())
