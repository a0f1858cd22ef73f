"""`python -m hall_controller` is the `hall-controller` command."""

import sys

from hall_controller.cli import main

sys.exit(main())
