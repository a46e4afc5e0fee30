"""`python -m klaviyo_snippets.harness.preview [--plan FILE] [--host HOST] [--port PORT]`."""

import sys

from klaviyo_snippets.harness.preview import main

sys.exit(main())
