"""What the bundle's runtime partials ``runtime/onsite.js.j2`` (the bundle loads Klaviyo's onsite
script) and ``runtime/consent.js.j2`` (nothing sent before consent) need from a plan, and what the
manifest says of both for `verify`. A plan with neither setting gets flags that leave both out.
"""

from __future__ import annotations

from typing import Any

from klaviyo_snippets.generator.plan import Plan

__all__ = ["onsite_context", "onsite_manifest", "SHOPIFY_PURPOSES", "INTERACTIONS"]

#: a Shopify purpose: [its Allowed method, its key in currentVisitorConsent(), in visitorConsentCollected's detail]
SHOPIFY_PURPOSES = {
    "analytics": ["analyticsProcessingAllowed", "analytics", "analyticsAllowed"],
    "marketing": ["marketingAllowed", "marketing", "marketingAllowed"],
    "preferences": ["preferencesProcessingAllowed", "preferences", "preferencesAllowed"],
    "sale_of_data": ["saleOfDataAllowed", "sale_of_data", "saleOfDataAllowed"],
}
#: the first interaction that loads the script with load: interaction (WP Rocket's delay-JS list, in
#: short); click too: a bundle an optimizer delayed runs after the pointerdown that woke the page,
#: and WP Rocket replays the click, not the pointerdown (tests/browser/test_delayed_scripts.py)
INTERACTIONS = ("pointerdown", "click", "keydown", "touchstart", "scroll", "wheel")


def onsite_context(plan: Plan, script_url: str) -> dict[str, Any]:
    consent = plan.consent
    context: dict[str, Any] = {
        "has_onsite": plan.onsite_load != "tag", "onsite_load": plan.onsite_load, "onsite_url": script_url,
        "interactions": list(INTERACTIONS), "has_consent": consent is not None,
    }
    if consent is not None:
        context.update(
            consent_signal=consent.signal, forms_only=consent.denied == "forms-only",
            consent_require=[SHOPIFY_PURPOSES[name] for name in consent.require] if consent.signal == "shopify"
            else list(consent.require),
            consent_cookie=list(consent.cookie) if consent.cookie else None,
        )
    return context


def onsite_manifest(plan: Plan) -> dict[str, Any]:
    """The manifest's top-level ``consent`` (or None) and ``onsite_script`` entries."""
    consent = plan.consent
    return {
        "consent": None if consent is None else {
            "signal": consent.signal, "denied": consent.denied, "require": list(consent.require),
            "cookie": {"name": consent.cookie[0], "granted": consent.cookie[1]} if consent.cookie else None,
        },
        "onsite_script": {"load": plan.onsite_load},
    }
