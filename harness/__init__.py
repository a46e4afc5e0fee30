"""The stand-in Klaviyo, its onsite script, and the browser harness that proves snippets against it."""
