"""CRM settings (`config/crm.toml`): value window, currencies, tiers, lifecycle, RFM.

`load_crm_settings` is a pure function of a folder and an environment mapping, like
`contactcenter.site_settings.load_settings`: built-in defaults, then the file (optional), then
`CC_CRM_*` variables. Every problem raises `ConfigError` naming the file and key (or the
variable) and what is wrong. The rules these settings feed are in docs/tiers.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from itertools import pairwise
from pathlib import Path
from types import MappingProxyType
from typing import Any

import phonenumbers

from contactcenter.core.config_files import read_toml
from contactcenter.core.errors import ConfigError

ORDER_STATUSES = ("placed", "paid", "shipped", "delivered", "cancelled", "refunded")
WINDOW_MONTHS = (12, 24)
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_TIER_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


@dataclass(frozen=True)
class TierThreshold:
    """A tier and the cumulative share of ranked customers (percent) it and those above hold."""

    name: str
    top_percent: Decimal


@dataclass(frozen=True)
class LifecycleSettings:
    new_for_days: int = 90
    mature_min_orders: int = 5
    mature_after_days: int = 365
    at_risk_after_days: int = 120
    churned_after_days: int = 365


@dataclass(frozen=True)
class RfmSettings:
    """Four ascending thresholds per score; scores run 1..5 (see docs/tiers.md)."""

    recency_days: tuple[int, ...] = (30, 90, 180, 365)
    frequency_orders: tuple[int, ...] = (2, 4, 8, 16)
    monetary_amounts: tuple[Decimal, ...] = tuple(Decimal(v) for v in (100, 500, 1500, 5000))


DEFAULT_TIERS = (
    TierThreshold("platinum", Decimal(5)),
    TierThreshold("gold", Decimal(20)),
    TierThreshold("silver", Decimal(50)),
    TierThreshold("standard", Decimal(100)),
)


@dataclass(frozen=True)
class CrmSettings:
    window_months: int = 12
    base_currency: str = "EUR"
    # units of the base currency per unit of each currency; the base currency itself is 1
    exchange_rates: Mapping[str, Decimal] = field(
        default_factory=lambda: MappingProxyType({"EUR": Decimal(1)})
    )
    counted_statuses: tuple[str, ...] = ("placed", "paid", "shipped", "delivered")
    no_orders_tier: str = "standard"
    tiers: tuple[TierThreshold, ...] = DEFAULT_TIERS
    lifecycle: LifecycleSettings = field(default_factory=LifecycleSettings)
    rfm: RfmSettings = field(default_factory=RfmSettings)
    default_phone_region: str = "US"

    @property
    def tier_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tiers)


# --- reading ---------------------------------------------------------------------------------


class _Table:
    """Typed reads of one TOML table; every failure names `file: section.key`."""

    def __init__(
        self,
        doc: Mapping[str, Any],
        section: str,
        path: Path,
        known: set[str],
        from_env: Mapping[str, str] | None = None,
    ):
        body = doc.get(section, {})
        self.where = f"{path}: {section}"
        self.from_env = from_env or {}
        if not isinstance(body, dict):
            raise ConfigError(f"{path}: [{section}]", "expected a table")
        for key in body:
            if key not in known:
                raise ConfigError(f"{self.where}.{key}", "unknown key")
        self.body: dict[str, Any] = body

    def get(self, key: str, default: Any, check: Callable[[Any], str | None]) -> Any:
        if key not in self.body:
            return default
        value = self.body[key]
        problem = check(value)
        if problem:
            name = self.from_env.get(key)
            raise ConfigError(f"environment {name}" if name else f"{self.where}.{key}", problem)
        return value


def _whole(low: int) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            return f"expected a whole number of at least {low}, got {v!r}"
        return None

    return check


def _decimal(v: Any) -> Decimal | None:
    if isinstance(v, bool) or not isinstance(v, int | float | str):
        return None
    try:
        d = Decimal(str(v))
    except InvalidOperation:
        return None
    return d if d.is_finite() else None


def _ascending(kind: Callable[[Any], Any]) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        if not isinstance(v, list) or len(v) != 4:
            return f"expected a list of four ascending numbers, got {v!r}"
        values = [kind(x) for x in v]
        if any(x is None or x <= 0 for x in values):
            return f"expected positive numbers, got {v!r}"
        if any(a >= b for a, b in pairwise(values)):
            return f"expected strictly ascending numbers, got {v!r}"
        return None

    return check


def _int_or_none(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _currency(v: Any) -> str | None:
    return None if isinstance(v, str) and _CURRENCY.match(v) else "expected an ISO 4217 code"


def _region(v: Any) -> str | None:
    if isinstance(v, str) and v in phonenumbers.SUPPORTED_REGIONS:
        return None
    return f"expected an ISO 3166 region code such as US or FR, got {v!r}"


def _statuses(v: Any) -> str | None:
    if not isinstance(v, list) or not v or any(s not in ORDER_STATUSES for s in v):
        return f"expected a non-empty list drawn from {', '.join(ORDER_STATUSES)}"
    return None


def _rates(doc: Mapping[str, Any], path: Path, base: str) -> Mapping[str, Decimal]:
    body = doc.get("exchange_rates", {})
    if not isinstance(body, dict):
        raise ConfigError(f"{path}: [exchange_rates]", "expected a table")
    rates = {base: Decimal(1)}
    for code, raw in body.items():
        where = f"{path}: exchange_rates.{code}"
        if not _CURRENCY.match(code):
            raise ConfigError(where, "a currency must be an ISO 4217 code such as USD")
        rate = _decimal(raw)
        if rate is None or rate <= 0:
            raise ConfigError(where, f"expected a positive number, got {raw!r}")
        if code == base and rate != 1:
            raise ConfigError(where, f"the base currency {base} is worth 1 by definition")
        rates[code] = rate
    return MappingProxyType(rates)


def _tiers(doc: Mapping[str, Any], path: Path) -> tuple[TierThreshold, ...]:
    if "tiers" not in doc:
        return DEFAULT_TIERS
    entries = doc["tiers"]
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{path}: tiers", "expected one or more [[tiers]] tables")
    tiers: list[TierThreshold] = []
    for i, entry in enumerate(entries):
        where = f"{path}: tiers[{i}]"
        if not isinstance(entry, dict) or set(entry) != {"name", "top_percent"}:
            raise ConfigError(where, "expected exactly the keys name and top_percent")
        name, percent = entry["name"], _decimal(entry["top_percent"])
        if not isinstance(name, str) or not _TIER_NAME.match(name):
            raise ConfigError(f"{where}.name", "expected a lower-case word such as gold")
        if name in {t.name for t in tiers}:
            raise ConfigError(f"{where}.name", f"tier {name!r} is named twice")
        if percent is None or not 0 < percent <= 100:
            raise ConfigError(f"{where}.top_percent", "expected a number above 0, at most 100")
        if tiers and percent <= tiers[-1].top_percent:
            raise ConfigError(f"{where}.top_percent", "must be more than the tier above's")
        tiers.append(TierThreshold(name, percent))
    if tiers[-1].top_percent != 100:
        raise ConfigError(
            f"{path}: tiers[{len(tiers) - 1}].top_percent", "the last tier takes the rest: 100"
        )
    return tuple(tiers)


_SECTIONS = ("value", "exchange_rates", "lifecycle", "rfm", "identities", "tiers")
_VALUE_KEYS = {"window_months", "base_currency", "counted_statuses", "no_orders_tier"}
# (section, key, environment variable) of the keys the environment may override
_ENV_KEYS = (
    ("value", "window_months", "CC_CRM_WINDOW_MONTHS"),
    ("value", "base_currency", "CC_CRM_BASE_CURRENCY"),
    ("value", "no_orders_tier", "CC_CRM_NO_ORDERS_TIER"),
    ("identities", "default_phone_region", "CC_CRM_PHONE_REGION"),
)


def _apply_environment(
    doc: dict[str, Any], env: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The document with each CC_CRM_* variable set in place of its key, and which keys came
    from which variable (so that a bad value names the variable, not the file)."""
    from_env: dict[str, str] = {}
    for section, key, name in _ENV_KEYS:
        if name not in env:
            continue
        value: Any = env[name].strip()
        if key == "window_months":
            try:
                value = int(value)
            except ValueError:
                problem = f"expected 12 or 24, got {value!r}"
                raise ConfigError(f"environment {name}", problem) from None
        doc = {**doc, section: {**doc.get(section, {}), key: value}}
        from_env[key] = name
    return doc, from_env


def _lifecycle(doc: Mapping[str, Any], path: Path) -> LifecycleSettings:
    d = LifecycleSettings()
    t = _Table(doc, "lifecycle", path, set(d.__dataclass_fields__))
    values = {key: t.get(key, getattr(d, key), _whole(1)) for key in sorted(d.__dataclass_fields__)}
    settings = LifecycleSettings(**values)
    if settings.churned_after_days <= settings.at_risk_after_days:
        raise ConfigError(f"{t.where}.churned_after_days", "must be more than at_risk_after_days")
    return settings


def _rfm(doc: Mapping[str, Any], path: Path) -> RfmSettings:
    d = RfmSettings()
    t = _Table(doc, "rfm", path, set(d.__dataclass_fields__))
    recency = t.get("recency_days", list(d.recency_days), _ascending(_int_or_none))
    frequency = t.get("frequency_orders", list(d.frequency_orders), _ascending(_int_or_none))
    monetary = t.get("monetary_amounts", list(d.monetary_amounts), _ascending(_decimal))
    return RfmSettings(
        recency_days=tuple(recency),
        frequency_orders=tuple(frequency),
        monetary_amounts=tuple(Decimal(str(v)) for v in monetary),
    )


def load_crm_settings(config_dir: Path, env: Mapping[str, str]) -> CrmSettings:
    """The CRM settings from `config_dir / "crm.toml"` (built-in defaults without it) and
    `env` (CC_CRM_* wins over the file). Raises `ConfigError` naming file, key and problem."""
    path = config_dir / "crm.toml"
    doc = read_toml(path)
    for section in doc:
        if section not in _SECTIONS:
            raise ConfigError(f"{path}: [{section}]", "unknown section")
    doc, from_env = _apply_environment(doc, env)
    defaults = CrmSettings()
    value = _Table(doc, "value", path, _VALUE_KEYS, from_env)

    def window(v: Any) -> str | None:
        return None if v in WINDOW_MONTHS and not isinstance(v, bool) else "expected 12 or 24"

    base = value.get("base_currency", defaults.base_currency, _currency)
    tiers = _tiers(doc, path)
    names = [t.name for t in tiers]

    def tier_name(v: Any) -> str | None:
        return None if v in names else f"expected one of the tiers: {', '.join(names)}"

    identities = _Table(doc, "identities", path, {"default_phone_region"}, from_env)
    return CrmSettings(
        window_months=value.get("window_months", defaults.window_months, window),
        base_currency=base,
        exchange_rates=_rates(doc, path, base),
        counted_statuses=tuple(
            value.get("counted_statuses", list(defaults.counted_statuses), _statuses)
        ),
        no_orders_tier=value.get("no_orders_tier", defaults.no_orders_tier, tier_name),
        tiers=tiers,
        lifecycle=_lifecycle(doc, path),
        rfm=_rfm(doc, path),
        default_phone_region=identities.get(
            "default_phone_region", defaults.default_phone_region, _region
        ),
    )
