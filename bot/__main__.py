"""`python -m bot` is `firewatch`."""

import sys

from bot.cli import main

sys.exit(main())
