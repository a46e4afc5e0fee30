"""The tracking plan: its model (frozen dataclasses), loading (YAML with line marks, the JSON
Schema, Klaviyo's and our own rules, each error with file:line and a JSON pointer), and the
Python evaluator that computes, rule for rule as the generated JavaScript does, the payload an
event sends.
"""

from __future__ import annotations

from klaviyo_snippets.generator.plan._load import load_plan
from klaviyo_snippets.generator.plan._model import (
    METHODS, PAGE_FIELDS, TYPES, Consent, Event, Plan, PlanError, Property, Source, Trigger, dependency_order,
)
from klaviyo_snippets.generator.plan._currencies import MINOR_DIGITS
from klaviyo_snippets.generator.plan._paths import is_index as is_index_part, shown as shown_path
from klaviyo_snippets.generator.plan._rules import check_public_key, selector_problem
from klaviyo_snippets.generator.plan._runtime import Outcome, convert, evaluate, js_number_string, sample_warnings

__all__ = [
    "load_plan", "check_public_key", "selector_problem", "dependency_order",
    "Plan", "Consent", "Event", "Property", "Source", "Trigger", "PlanError",
    "TYPES", "METHODS", "PAGE_FIELDS",
    "evaluate", "Outcome", "convert", "js_number_string", "sample_warnings",
    "shown_path", "is_index_part", "MINOR_DIGITS",
]
