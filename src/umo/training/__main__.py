"""``python -m umo.training --stage N ...`` (and ``torchrun ... -m umo.training ...``): one training stage."""

import sys

from umo.training.cli import main

sys.exit(main())
