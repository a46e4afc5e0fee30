"""Example markup for click and submit triggers: the element a theme would render, built from the
trigger's selector and the event's sample data, so an HTML snippet works as pasted."""

from __future__ import annotations

import re
from typing import Any

from klaviyo_snippets.generator.codegen._escape import html_attr, html_text
from klaviyo_snippets.generator.codegen._jscode import form_fields
from klaviyo_snippets.generator.plan import Event, Trigger

__all__ = ["example_element"]

_SIMPLE = re.compile(
    r"""(?P<tag>^[a-zA-Z][a-zA-Z0-9-]*)|\#(?P<id>[A-Za-z][\w-]*)|\.(?P<cls>[A-Za-z][\w-]*)|"""
    r"""\[(?P<attr>[A-Za-z][\w-]*)(?:=(?P<q>["']?)(?P<val>[^"'\]]*)(?P=q))?\]"""
)


def _parse(selector: str) -> dict | None:
    """tag#id.class[attr=value] -> parts, or None for anything more complex."""
    out: dict[str, Any] = {"tag": None, "id": None, "classes": [], "attrs": []}
    pos = 0
    selector = selector.strip()
    while pos < len(selector):
        match = _SIMPLE.match(selector, pos)
        if not match or match.end() == pos:
            return None
        if match.group("tag"):
            out["tag"] = match.group("tag").lower()
        elif match.group("id"):
            out["id"] = match.group("id")
        elif match.group("cls"):
            out["classes"].append(match.group("cls"))
        else:
            out["attrs"].append((match.group("attr"), match.group("val")))
        pos = match.end()
    return out


def _camel(data_attr: str) -> str:
    head, *rest = data_attr.removeprefix("data-").split("-")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _fields(event: Event, bound: str) -> list[tuple[str, str]]:
    """Form fields the event reads from the bound input: (name, property type)."""
    fields: dict[str, str] = {}

    def walk(props):
        for prop in props:
            for path in prop.source.paths:
                parts = path.split(".")
                if parts[0] == bound and len(parts) > 1:
                    fields.setdefault(parts[1].removesuffix("[]"), prop.type)
            walk(prop.children)

    walk(event.properties)
    return list(fields.items())


def example_element(event: Event, trigger: Trigger, sample: dict | None) -> str | None:
    """An element matching the trigger's selector, or None when the selector is too complex."""
    parts = _parse(trigger.selector or "")
    if parts is None:
        return None
    bound = (sample or {}).get(trigger.input) if trigger.input else None
    bound = bound if isinstance(bound, dict) else {}
    if trigger.kind == "submit":
        tag = parts["tag"] or "form"
    else:
        tag = parts["tag"] or ("a" if "href" in bound else "button")
    attrs: list[tuple[str, str | None]] = []
    if tag == "a" and "href" in bound:
        href = _text(bound["href"])
        # Sample data is a link's target, never code: a javascript: (or data:) URL becomes "#".
        attrs.append(("href", href if re.match(r"(?i)^(https?:|/|\.|#|\?|[^:/?#]*(?:[/?#]|$))", href) else "#"))
    if tag == "button" and trigger.kind == "click":
        attrs.append(("type", "button"))
    if parts["id"]:
        attrs.append(("id", parts["id"]))
    if parts["classes"]:
        attrs.append(("class", " ".join(parts["classes"])))
    dataset = bound.get("dataset") if isinstance(bound.get("dataset"), dict) else {}
    for name, value in parts["attrs"]:
        if value is None and name.startswith("data-") and _camel(name) in dataset:
            value = _text(dataset[_camel(name)])
        elif value is None and name in bound and not isinstance(bound[name], (dict, list)):
            value = _text(bound[name])
        attrs.append((name, value))
    # The rest of the sample's dataset, so the element carries what the event reads from it.
    named = {name for name, _ in attrs}
    for key, value in dataset.items():
        attr = "data-" + re.sub(r"[A-Z]", lambda m: "-" + m.group(0).lower(), str(key))
        if attr not in named and not isinstance(value, (dict, list)):
            attrs.append((attr, _text(value)))
    rendered = "".join(f' {name}="{html_attr(value)}"' if value is not None else f" {name}" for name, value in attrs)
    if trigger.kind == "click":
        label = dataset.get("klaviyoBanner") or parts["id"] or event.label
        return f"<{tag}{rendered}>{html_text(_text(label))}</{tag}>"
    lines = [f"<{tag}{rendered}>"]
    kinds = dict(_fields(event, trigger.input)) if trigger.input else {}
    for name in form_fields(event, trigger.input) if trigger.input else []:
        kind = kinds.get(name, "string")
        value = _text(bound.get(name))
        if kind == "string_list":
            lines.append(f'  <textarea name="{html_attr(name)}">{html_text(value)}</textarea>')
        else:
            input_type = "email" if "email" in name else "text"
            lines.append(f'  <input type="{input_type}" name="{html_attr(name)}" value="{html_attr(value)}">')
    lines.append('  <button type="submit">Send</button>')
    lines.append(f"</{tag}>")
    return "\n".join(lines)
