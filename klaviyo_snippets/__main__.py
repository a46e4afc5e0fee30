"""`python -m klaviyo_snippets ...`: the same as the `klaviyo-snippets` command."""

import sys

from klaviyo_snippets.harness.cli import main

sys.exit(main())
