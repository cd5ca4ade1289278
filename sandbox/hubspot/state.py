"""One HubSpot portal: CRM objects with string property values, their associations, the deal pipelines, and the
rules HubSpot applies to writes (unknown properties, a deal stage its pipeline lacks) and to searches.

A refused write raises `Invalid` with HubSpot's per-property validation results; the app answers it as a
400 VALIDATION_ERROR and changes nothing.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

Record = dict[str, Any]

# The names (and object type ids) HubSpot accepts in a path for the objects the emulator keeps.
OBJECT_TYPES = {
    "deals": "deals",
    "deal": "deals",
    "0-3": "deals",
    "companies": "companies",
    "company": "companies",
    "0-2": "companies",
    "line_items": "line_items",
    "line_item": "line_items",
    "0-8": "line_items",
    "products": "products",
    "product": "products",
    "0-7": "products",
}
SINGULAR = {"deals": "deal", "companies": "company", "line_items": "line_item", "products": "product"}

# The portal's property schema: HubSpot's standard properties c2c reads plus the custom ones the c2c app
# creates at install (group "c2c"). Value kinds: string, number, date (YYYY-MM-DD), datetime, enumeration.
_COMMON = {"hs_object_id": "number", "createdate": "datetime", "hs_lastmodifieddate": "datetime"}
# The unique custom property the demo's seeding finds its records by (`idProperty`), as an admin would create one
# for an import; c2c itself never reads it.
_KEYED = {"c2c_external_key": "string"}
PROPERTIES: dict[str, dict[str, str]] = {
    "deals": _COMMON
    | _KEYED
    | {
        "dealname": "string",
        "dealstage": "enumeration",
        "pipeline": "enumeration",
        "closedate": "datetime",
        "amount": "number",
        "deal_currency_code": "enumeration",
        "description": "string",
        "c2c_legal_entity": "string",
        "c2c_term_months": "number",
        "c2c_billing_period": "enumeration",
        # the contract c2c keeps on the deal (see connectors/hubspot/contracts.py)
        "c2c_subscription_id": "string",
        "c2c_contract_status": "enumeration",
        "c2c_contract_start": "date",
        "c2c_contract_term_months": "number",
        "c2c_contract_company_id": "string",
        "c2c_contract_ended_on": "date",
        # a won change to a contract: the deal whose contract it changes
        "c2c_contract_deal_id": "string",
        "c2c_change_type": "enumeration",
        "c2c_effective_date": "date",
    },
    "companies": _COMMON
    | _KEYED
    | {
        "name": "string",
        "domain": "string",
        "address": "string",
        "address2": "string",
        "city": "string",
        "state": "string",
        "zip": "string",
        "country": "string",
        "c2c_tax_id": "string",
        "c2c_billing_email": "string",
        "c2c_golden_id": "string",
        "c2c_billing_customer_id": "string",
        "c2c_erp_customer_id": "string",
    },
    "line_items": _COMMON
    | _KEYED
    | {
        "name": "string",
        "description": "string",
        "hs_sku": "string",
        "hs_product_id": "number",
        "quantity": "number",
        "price": "number",
        "amount": "number",
        "recurringbillingfrequency": "enumeration",
    },
    "products": _COMMON | {"name": "string", "description": "string", "hs_sku": "string", "price": "number"},
}
# What a read returns when it names no properties.
DEFAULT_PROPERTIES = {
    "deals": ("amount", "closedate", "createdate", "dealname", "dealstage", "hs_lastmodifieddate", "pipeline"),
    "companies": ("createdate", "domain", "hs_lastmodifieddate", "name"),
    "line_items": ("amount", "createdate", "hs_lastmodifieddate", "hs_product_id", "name", "price", "quantity"),
    "products": ("createdate", "description", "hs_lastmodifieddate", "name", "price"),
}
ENUMERATIONS = {
    "c2c_billing_period": ("Monthly", "Annual"),
    "c2c_contract_status": ("Activated", "Terminated"),
    "c2c_change_type": ("amendment", "renewal", "cancellation"),
    "deal_currency_code": ("USD", "EUR", "GBP", "JPY"),
    "recurringbillingfrequency": ("monthly", "annually"),
}

# HubSpot-defined association types (v4 typeId, v3 name, label): between the objects c2c reads.
PRIMARY_DEAL_COMPANY, DEAL_COMPANY, COMPANY_DEAL, PRIMARY_COMPANY_DEAL = 5, 341, 342, 6
DEAL_LINE_ITEM, LINE_ITEM_DEAL = 19, 20
ASSOCIATION_TYPES: dict[tuple[str, str], dict[int, tuple[str, str | None]]] = {
    ("deals", "companies"): {
        PRIMARY_DEAL_COMPANY: ("deal_to_company", "Primary"),
        DEAL_COMPANY: ("deal_to_company_unlabeled", None),
    },
    ("companies", "deals"): {
        PRIMARY_COMPANY_DEAL: ("company_to_deal", "Primary"),
        COMPANY_DEAL: ("company_to_deal_unlabeled", None),
    },
    ("deals", "line_items"): {DEAL_LINE_ITEM: ("deal_to_line_item", None)},
    ("line_items", "deals"): {LINE_ITEM_DEAL: ("line_item_to_deal", None)},
}
# The type of the other direction, and the unlabeled type every labeled association also carries.
INVERSE = {PRIMARY_DEAL_COMPANY: PRIMARY_COMPANY_DEAL, DEAL_COMPANY: COMPANY_DEAL, DEAL_LINE_ITEM: LINE_ITEM_DEAL}
INVERSE |= {value: key for key, value in INVERSE.items()}
UNLABELED = {PRIMARY_DEAL_COMPANY: DEAL_COMPANY, PRIMARY_COMPANY_DEAL: COMPANY_DEAL}
DEFAULT_TYPE = {
    pair: min(types, key=lambda t: (types[t][1] is not None, t)) for pair, types in ASSOCIATION_TYPES.items()
}


def _stage(stage_id: str, label: str, order: int, probability: str, closed: bool) -> Record:
    return {
        "id": stage_id,
        "label": label,
        "displayOrder": order,
        "metadata": {"isClosed": "true" if closed else "false", "probability": probability},
        "archived": False,
    }


# The portal's deal pipelines: HubSpot's default one, and a custom one whose stage ids are numbers (as HubSpot
# gives a custom pipeline's stages), so closed-won is known only from the stage's metadata.
PIPELINES: list[Record] = [
    {
        "id": "default",
        "label": "Sales Pipeline",
        "displayOrder": 0,
        "archived": False,
        "stages": [
            _stage("appointmentscheduled", "Appointment Scheduled", 0, "0.2", False),
            _stage("qualifiedtobuy", "Qualified To Buy", 1, "0.4", False),
            _stage("presentationscheduled", "Presentation Scheduled", 2, "0.6", False),
            _stage("decisionmakerboughtin", "Decision Maker Bought-In", 3, "0.8", False),
            _stage("contractsent", "Contract Sent", 4, "0.9", False),
            _stage("closedwon", "Closed Won", 5, "1.0", True),
            _stage("closedlost", "Closed Lost", 6, "0.0", True),
        ],
    },
    {
        "id": "75650911",
        "label": "Expansion",
        "displayOrder": 1,
        "archived": False,
        "stages": [
            _stage("164250013", "Scoping", 0, "0.3", False),
            _stage("164250014", "Won", 1, "1.0", True),
            _stage("164250015", "Lost", 2, "0.0", True),
        ],
    },
]


class Invalid(Exception):
    """A write HubSpot refuses: one validation result per property at fault."""

    def __init__(self, *results: Record) -> None:
        super().__init__("; ".join(str(r["message"]) for r in results))
        self.results = list(results)


class BadFilter(ValueError):
    """A search HubSpot cannot run (unknown operator, a filter without its value)."""


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def as_millis(value: str) -> int | None:
    """A datetime or date property (or a filter value) as epoch milliseconds; None when it is neither."""
    text = value.strip()
    if text.isascii() and text.lstrip("-").isdigit():
        return int(text)
    try:
        if len(text) == 10:
            moment = datetime.combine(date.fromisoformat(text), datetime.min.time(), tzinfo=UTC)
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _as_string(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass
class Portal:
    """The objects of one HubSpot account; ids are numbers that follow the clock, so a restarted sandbox never
    hands out an id a store already knows."""

    objects: dict[str, dict[str, Record]] = field(default_factory=lambda: {name: {} for name in PROPERTIES})
    # (from type, from id, to type, to id) -> association type ids, both directions kept
    links: dict[tuple[str, str, str, str], set[int]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(int(time.time() * 100)))

    # ---- properties ------------------------------------------------------------------------------------

    def _validated(self, kind: str, properties: Any, current: Record | None) -> dict[str, str | None]:
        if not isinstance(properties, dict):
            raise Invalid(_result("properties", "INVALID_OBJECT", "properties must be an object"))
        schema, problems, values = PROPERTIES[kind], [], {}
        for name, raw in properties.items():
            kind_of = schema.get(name)
            value = _as_string(raw)
            if kind_of is None or name in _COMMON:
                error = "PROPERTY_DOESNT_EXIST" if kind_of is None else "READ_ONLY_VALUE"
                problems.append(
                    _result(
                        name,
                        error,
                        f'Property "{name}" does not exist' if kind_of is None else f'"{name}" is a read only property',
                    )
                )
                continue
            if value not in (None, "") and (wrong := _check_value(name, kind_of, value)):
                problems.append(
                    _result(name, "INVALID_OPTION" if kind_of == "enumeration" else "INVALID_" + kind_of.upper(), wrong)
                )
                continue
            values[name] = value if value != "" else None
        if kind == "deals":
            merged = {**(current or {}), **values}
            pipeline = merged.get("pipeline") or "default"
            stage = merged.get("dealstage")
            stages = {s["id"] for p in PIPELINES if p["id"] == pipeline for s in p["stages"]}
            if not stages:
                problems.append(_result("pipeline", "INVALID_OPTION", f"{pipeline} was not one of the allowed options"))
            elif stage is not None and stage not in stages:
                problems.append(
                    _result(
                        "dealstage", "INVALID_OPTION", f"{stage} was not one of the allowed options: {sorted(stages)}"
                    )
                )
            values.setdefault("pipeline", merged.get("pipeline") or "default")
        if problems:
            raise Invalid(*problems)
        return values

    # ---- objects ---------------------------------------------------------------------------------------

    def create(self, kind: str, properties: Any) -> Record:
        values = self._validated(kind, properties, None)
        object_id = str(next(self._ids))
        stamp = iso(now())
        record = {
            "id": object_id,
            "properties": {
                **{k: v for k, v in values.items() if v is not None},
                "hs_object_id": object_id,
                "createdate": stamp,
                "hs_lastmodifieddate": stamp,
            },
            "createdAt": stamp,
            "updatedAt": stamp,
            "archived": False,
        }
        self.objects[kind][object_id] = record
        return record

    def update(self, kind: str, object_id: str, properties: Any) -> tuple[Record, dict[str, str | None]]:
        """The record after the change, and the previous value of each property the change set."""
        record = self.get(kind, object_id)
        values = self._validated(kind, properties, record["properties"])
        before = {name: record["properties"].get(name) for name in values}
        for name, value in values.items():
            if value is None:
                record["properties"].pop(name, None)
            else:
                record["properties"][name] = value
        stamp = iso(now())
        record["properties"]["hs_lastmodifieddate"] = stamp
        record["updatedAt"] = stamp
        return record, before

    def get(self, kind: str, object_id: str) -> Record:
        record = self.objects[kind].get(object_id)
        if record is None or record["archived"]:
            raise KeyError(object_id)
        return record

    def find(self, kind: str, object_id: str, id_property: str | None = None) -> Record | None:
        if id_property in (None, "hs_object_id"):
            try:
                return self.get(kind, object_id)
            except KeyError:
                return None
        for record in self.objects[kind].values():
            if not record["archived"] and record["properties"].get(id_property or "") == object_id:
                return record
        return None

    def archive(self, kind: str, object_id: str) -> None:
        self.get(kind, object_id)["archived"] = True

    def live(self, kind: str) -> list[Record]:
        return [record for record in self.objects[kind].values() if not record["archived"]]

    # ---- associations ----------------------------------------------------------------------------------

    def associate(self, from_kind: str, from_id: str, to_kind: str, to_id: str, type_ids: list[int]) -> None:
        """Link two objects with these types (and HubSpot's unlabeled type a label implies), both directions."""
        allowed = ASSOCIATION_TYPES.get((from_kind, to_kind), {})
        unknown = [t for t in type_ids if t not in allowed]
        if unknown or not type_ids:
            raise Invalid(
                _result(
                    "types",
                    "INVALID_ASSOCIATION_TYPE",
                    f"{unknown or type_ids} is not a valid association type from {from_kind} to {to_kind}",
                )
            )
        self.get(from_kind, from_id), self.get(to_kind, to_id)
        types = set(type_ids) | {UNLABELED[t] for t in type_ids if t in UNLABELED}
        self.links.setdefault((from_kind, from_id, to_kind, to_id), set()).update(types)
        self.links.setdefault((to_kind, to_id, from_kind, from_id), set()).update(INVERSE[t] for t in types)

    def associated(self, from_kind: str, from_id: str, to_kind: str) -> list[tuple[str, list[int]]]:
        """(to id, type ids) of each live object of `to_kind` linked to the object, in id order."""
        found = []
        for (f_kind, f_id, t_kind, t_id), types in self.links.items():
            if (f_kind, f_id, t_kind) == (from_kind, from_id, to_kind) and self.find(to_kind, t_id) is not None:
                found.append((t_id, sorted(types)))
        return sorted(found, key=lambda item: int(item[0]))

    # ---- search ----------------------------------------------------------------------------------------

    def search(self, kind: str, filter_groups: list[Record]) -> list[Record]:
        """Records matching any group (all filters of a group), oldest id first."""
        matches = [r for r in self.live(kind) if not filter_groups or any(_group(kind, g, r) for g in filter_groups)]
        return sorted(matches, key=lambda record: int(record["id"]))


def _result(name: str, error: str, message: str) -> Record:
    return {"isValid": False, "message": message, "error": error, "name": name}


def _check_value(name: str, kind: str, value: str) -> str | None:
    if kind == "number":
        try:
            Decimal(value)
        except InvalidOperation:
            return f"{value} was not a valid number"
    if kind in ("date", "datetime") and as_millis(value) is None:
        return f"{value} was not a valid {'date' if kind == 'date' else 'long'}"
    if name in ENUMERATIONS and value not in ENUMERATIONS[name]:
        return f"{value} was not one of the allowed options: {list(ENUMERATIONS[name])}"
    return None


OPERATORS = frozenset(
    {
        "EQ",
        "NEQ",
        "LT",
        "LTE",
        "GT",
        "GTE",
        "BETWEEN",
        "IN",
        "NOT_IN",
        "HAS_PROPERTY",
        "NOT_HAS_PROPERTY",
        "CONTAINS_TOKEN",
    }
)


def _group(kind: str, group: Record, record: Record) -> bool:
    return all(_matches(kind, f, record["properties"]) for f in group.get("filters") or [])


def _comparable(kind: str, name: str, value: str) -> Any:
    """Numbers and datetimes compare as numbers, everything else as case-insensitive text (as HubSpot does)."""
    kind_of = PROPERTIES[kind].get(name)
    if kind_of in ("date", "datetime"):
        return as_millis(value)
    if kind_of == "number":
        try:
            return Decimal(value)
        except InvalidOperation:
            return None
    return value.lower()


def _matches(kind: str, spec: Record, properties: Record) -> bool:
    name, operator = spec["propertyName"], spec["operator"]
    actual = properties.get(name)
    if operator == "HAS_PROPERTY":
        return actual is not None
    if operator == "NOT_HAS_PROPERTY":
        return actual is None
    if actual is None:
        return operator in ("NEQ", "NOT_IN")
    have = _comparable(kind, name, actual)
    if operator in ("IN", "NOT_IN"):
        inside = any(have == _comparable(kind, name, str(v)) for v in spec.get("values") or [])
        return inside if operator == "IN" else not inside
    if operator == "CONTAINS_TOKEN":
        return str(spec.get("value", "")).lower().strip("*") in actual.lower()
    want = _comparable(kind, name, str(spec.get("value")))
    if operator == "BETWEEN":
        high = _comparable(kind, name, str(spec.get("highValue")))
        return have is not None and want is not None and high is not None and want <= have <= high
    if have is None or want is None:
        return operator == "NEQ"
    try:
        return {
            "EQ": have == want,
            "NEQ": have != want,
            "LT": have < want,
            "LTE": have <= want,
            "GT": have > want,
            "GTE": have >= want,
        }[operator]
    except TypeError:
        return False


def check_filters(filter_groups: Any) -> list[Record]:
    """The search's filter groups, or BadFilter naming what HubSpot would refuse."""
    if filter_groups is None:
        return []
    if not isinstance(filter_groups, list) or len(filter_groups) > 5:
        raise BadFilter("filterGroups must be a list of at most 5 groups")
    total = 0
    for group in filter_groups:
        filters = group.get("filters") if isinstance(group, dict) else None
        if not isinstance(filters, list):
            raise BadFilter("each filter group needs a filters list")
        total += len(filters)
        for spec in filters:
            if not isinstance(spec, dict) or not isinstance(spec.get("propertyName"), str):
                raise BadFilter("each filter needs a propertyName")
            if spec.get("operator") not in OPERATORS:
                raise BadFilter(f"Invalid operator {spec.get('operator')!r}")
            if spec["operator"] in ("IN", "NOT_IN") and not isinstance(spec.get("values"), list):
                raise BadFilter(f"operator {spec['operator']} needs values")
            if spec["operator"] == "BETWEEN" and spec.get("highValue") is None:
                raise BadFilter("operator BETWEEN needs highValue")
    if total > 18:
        raise BadFilter("at most 18 filters in all filter groups")
    return filter_groups
