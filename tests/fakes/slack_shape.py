"""Does a JSON value fit a recorded, blanked Slack sample? Every key must exist there, types agree.

Samples merge many real answers: arrays hold one entry per shape seen (blocks of every type), an
empty object means "contents not recorded", and objects keyed by ids (`shares.public.C03E94MKU`)
are maps. `null` fits anything: Slack sends it for many absent values.
"""

from __future__ import annotations

import re
from typing import Any

_ID_KEY = re.compile(r"^[A-Z][A-Z0-9]{6,}_?$")


def shape_errors(value: Any, sample: Any, path: str = "", allow: frozenset[str] = frozenset()) -> list[str]:
    """Differences between `value` and `sample`; `allow` lists paths (`channel.user`) known to be extra."""
    if value is None or path in allow:
        return []
    if isinstance(value, dict):
        return _dict_errors(value, sample, path, allow)
    if isinstance(value, list):
        if not isinstance(sample, list):
            return [f"{path or '$'}: array where the sample has {type(sample).__name__}"]
        errors: list[str] = []
        for i, item in enumerate(value):
            errors += _best_item_errors(item, sample, f"{path}[{i}]", allow)
        return errors
    if _scalar_fits(value, sample):
        return []
    return [f"{path or '$'}: {type(value).__name__} where the sample has {type(sample).__name__}"]


def _dict_errors(value: dict[str, Any], sample: Any, path: str, allow: frozenset[str]) -> list[str]:
    if not isinstance(sample, dict):
        return [f"{path or '$'}: object where the sample has {type(sample).__name__}"]
    if not sample:
        return []  # contents not recorded
    if all(_ID_KEY.match(k) for k in sample):  # a map keyed by ids
        errors: list[str] = []
        for key, item in value.items():
            errors += _best_item_errors(item, list(sample.values()), f"{path}.{key}", allow)
        return errors
    errors = []
    for key, item in value.items():
        sub = f"{path}.{key}" if path else key
        if sub in allow:
            continue
        if key not in sample:
            errors.append(f"{sub}: not in the sample")
        else:
            errors += shape_errors(item, sample[key], sub, allow)
    return errors


def _best_item_errors(item: Any, candidates: list[Any], path: str, allow: frozenset[str]) -> list[str]:
    if not candidates:
        return []
    typed = [
        c for c in candidates if not (isinstance(item, dict) and isinstance(c, dict)) or _same_kind(item, c)
    ]
    attempts = [shape_errors(item, c, path, allow) for c in (typed or candidates)]
    return min(attempts, key=len)


def _same_kind(item: dict[str, Any], candidate: dict[str, Any]) -> bool:
    """Blocks and elements match the sample entry of their own `type`, when the sample has one."""
    return "type" not in item or candidate.get("type") in (item["type"], "", None)


def _scalar_fits(value: Any, sample: Any) -> bool:
    if sample is None:
        return True
    if isinstance(value, bool) or isinstance(sample, bool):
        return isinstance(value, bool) and isinstance(sample, bool)
    if isinstance(value, int | float):
        return isinstance(sample, int | float)
    return isinstance(value, str) and isinstance(sample, str)
