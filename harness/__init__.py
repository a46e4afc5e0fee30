"""Proving the snippets: the stand-in Klaviyo (`standin`), the browser side (`browser`), `verify`,
`preview`, the pytest plugin and the command line (`cli`).

Import from the subpackages; this package itself holds nothing, so that loading the pytest
plugin (``klaviyo_snippets.harness.pytest_plugin``) stays cheap.
"""
