import sys

from umo.cli import main

sys.exit(main())
