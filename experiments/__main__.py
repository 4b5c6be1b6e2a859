"""`python -m experiments` is the `kerasdl` command (`experiments.cli`) for a checkout pip did not install."""

import sys

from experiments.cli import main

sys.exit(main())
