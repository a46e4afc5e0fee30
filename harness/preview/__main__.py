"""`python -m harness.preview [--plan FILE] [--host HOST] [--port PORT]`."""

import sys

from harness.preview import main

sys.exit(main())
