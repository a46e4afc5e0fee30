"""The plan's page-condition settings `onsite_script:` (how Klaviyo's onsite script loads) and
`consent:` (nothing is sent before the visitor consents), read from a plan the schema has
already checked, with the rules the schema cannot express (docs/consent.md).
"""

from __future__ import annotations

from klaviyo_snippets.generator.plan._model import Consent, Event, PlanError
from klaviyo_snippets.generator.plan._rules import closest
from klaviyo_snippets.generator.plan._yamlmarks import Marked

__all__ = ["onsite_settings", "REQUIRE"]

#: what each signal's ``require:`` may name, and its default (the first tuple's order is the docs')
REQUIRE = {
    "shopify": (("analytics", "marketing", "preferences", "sale_of_data"), ("analytics", "marketing")),
    "google": (("analytics_storage", "ad_storage", "ad_user_data", "ad_personalization", "functionality_storage",
                "personalization_storage", "security_storage"), ("analytics_storage", "ad_storage")),
    "onetrust": (None, ("C0004",)),  # any group id: each site names its own
}


def onsite_settings(data: dict, events: tuple[Event, ...], marked: Marked) -> tuple[str, Consent | None]:
    """``(onsite_script.load, Consent or None)``. Without ``onsite_script``, ``tag`` (the tag the store
    pastes), or ``now`` with ``consent:`` (the bundle loads the script on grant)."""
    spec = data.get("consent")
    load = (data.get("onsite_script") or {}).get("load")
    if spec is None:
        return load or "tag", None
    if load == "tag":
        raise PlanError(
            "consent: with onsite_script.load: tag would load Klaviyo's onsite script before consent "
            "(the tag runs whatever the visitor chose)",
            where=marked.where("/onsite_script/load"),
            hint="remove onsite_script (the bundle then loads the script on grant: now), or set "
                 "load: now, idle or interaction, and remove the script tag from your pages",
        )
    signal = spec["signal"]
    require = spec.get("require")
    names = (require,) if isinstance(require, str) else tuple(require or ())
    if signal in ("api", "cookie") and require is not None:
        raise PlanError(f"require: is for the shopify, google and onetrust signals, not {signal}",
                        where=marked.where("/consent/require", key=True), hint="remove require:")
    if signal == "cookie" and "cookie" not in spec:
        raise PlanError("signal: cookie needs the cookie's name and the value that means granted",
                        where=marked.where("/consent"), hint="add cookie: {name: cookie_consent, granted: \"yes\"}")
    if signal != "cookie" and "cookie" in spec:
        raise PlanError(f"cookie: is for signal: cookie, not {signal}", where=marked.where("/consent/cookie", key=True),
                        hint="remove cookie:, or set signal: cookie")
    if signal in REQUIRE:
        allowed, default = REQUIRE[signal]
        for index, name in enumerate(names):
            if allowed is not None and name not in allowed:
                where = "/consent/require" + (f"/{index}" if isinstance(require, list) else "")
                raise PlanError(f"{name!r} is not something the {signal} signal can require",
                                where=marked.where(where), hint=f"{closest(name, allowed)}use one of: {', '.join(allowed)}")
        names = tuple(dict.fromkeys(names)) or default
    for event in events:
        if event.function == "consent":
            raise PlanError("an event named consent would hide klaviyoSnippets.consent(), the consent API",
                            where=marked.where(event.pointer), hint="rename the event")
    cookie = (spec["cookie"]["name"], spec["cookie"]["granted"]) if "cookie" in spec else None
    return load or "now", Consent(signal=signal, denied=spec.get("denied", "nothing"), require=names, cookie=cookie)
