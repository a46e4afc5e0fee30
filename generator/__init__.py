"""Turn a tracking plan into Klaviyo onsite JavaScript, and build the server-side payloads."""
