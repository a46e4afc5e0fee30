"""How a stand-in behaves: `StubSettings`, Klaviyo's defaults plus the switches docs/stub.md lists."""

from __future__ import annotations

from dataclasses import dataclass, field

from klaviyo_snippets.harness.standin._limits import RateLimits
from klaviyo_snippets.harness.standin._store import MAX_RECORD_BYTES, MAX_RECORDS


@dataclass
class StubSettings:
    """How this stand-in behaves. Defaults are Klaviyo's, with rate limits off."""

    api_keys: tuple[str, ...] | None = None  # None: any key shaped like pk_<letters and digits>
    company_ids: tuple[str, ...] | None = None  # None: any 6-character company id
    rate_limits: RateLimits | None = None
    onsite_api_base: str | None = None  # None: the onsite script posts to a.klaviyo.com (routed)
    backfill_anonymous: bool = False  # the account setting that keeps anonymous events
    identify_debounce_ms: int = 300
    retry_delay_ms: tuple[int, int] = (1000, 2000)
    max_retries: int = 5
    # What the store keeps (docs/stub.md, "What is kept"): the newest requests, events and
    # diagnostics, at most max_records of each and max_record_bytes of JSON in all.
    max_records: int = MAX_RECORDS
    max_record_bytes: int = MAX_RECORD_BYTES
    # Choices no source confirms [inferred] (docs/stub.md), each switchable:
    refuse_unknown_fields: bool = True  # 400 for a field the resource does not know
    map_property_attributes: bool = True  # properties.first_name etc. become the profile attribute
    profile_answer_exchange_id: bool = True  # /client/profiles answers the onsite script {"meta": ...}
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "api_keys": "any pk_ key" if self.api_keys is None else f"{len(self.api_keys)} configured",
            "company_ids": "any 6-character id" if self.company_ids is None else list(self.company_ids),
            "rate_limits": None
            if self.rate_limits is None
            else {p: vars(lim) for p, lim in self.rate_limits.limits.items()},
            "onsite_api_base": self.onsite_api_base,
            "backfill_anonymous": self.backfill_anonymous,
            "identify_debounce_ms": self.identify_debounce_ms,
            "retry_delay_ms": list(self.retry_delay_ms),
            "max_retries": self.max_retries,
            "max_records": self.max_records,
            "max_record_bytes": self.max_record_bytes,
            "refuse_unknown_fields": self.refuse_unknown_fields,
            "map_property_attributes": self.map_property_attributes,
            "profile_answer_exchange_id": self.profile_answer_exchange_id,
        }
