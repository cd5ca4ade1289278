"""sObject Describe and Describe Global: the org's metadata as the REST API reports it (the common subset of the
fields Salesforce returns; clients such as simple-salesforce read `name`, `fields`, `type`, `createable`,
`updateable`, `nillable`, `externalId`, `picklistValues` and `referenceTo`)."""

from __future__ import annotations

import re
from typing import Any

from sandbox.salesforce.schema import OBJECTS, FieldSpec, FieldType, ObjectSpec

_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")


def _label(name: str) -> str:
    """`Billing_Email__c` -> `Billing Email`, `CloseDate` -> `Close Date`, `Product2Id` -> `Product2 ID`."""
    base = name.removesuffix("__c").replace("_", " ")
    base = re.sub(r"Id$", " ID", base) if base != "Id" else "Record ID"
    return _CAMEL.sub(" ", base).replace("  ", " ").strip()


def _urls(spec: ObjectSpec, version: str) -> dict[str, str]:
    base = f"/services/data/{version}/sobjects/{spec.name}"
    return {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"}


def _field(spec: FieldSpec) -> dict[str, Any]:
    reference = spec.type is FieldType.REFERENCE
    return {
        "name": spec.name,
        "label": _label(spec.name),
        "type": spec.type.value,
        "length": 255 if spec.type.is_text else 18 if spec.type in (FieldType.ID, FieldType.REFERENCE) else 0,
        "custom": spec.name.endswith("__c"),
        "createable": spec.createable,
        "updateable": spec.updateable,
        "nillable": not spec.required and spec.type not in (FieldType.ID, FieldType.BOOLEAN),
        "externalId": spec.external_id,
        "idLookup": spec.external_id or spec.type is FieldType.ID,
        "calculated": False,
        "defaultedOnCreate": not spec.createable or spec.type is FieldType.BOOLEAN,
        "picklistValues": [
            {"active": True, "defaultValue": False, "label": value, "validFor": None, "value": value}
            for value in spec.picklist
        ],
        "referenceTo": [spec.reference_to] if reference and spec.reference_to else [],
        "relationshipName": spec.name.removesuffix("Id") if reference else None,
    }


def _summary(spec: ObjectSpec, version: str) -> dict[str, Any]:
    return {
        "name": spec.name,
        "label": _label(spec.name.rstrip("2")),
        "labelPlural": _label(spec.name.rstrip("2")) + "s",
        "keyPrefix": spec.key_prefix,
        "custom": False,
        "createable": True,
        "updateable": True,
        "deletable": False,  # the emulator deletes nothing
        "queryable": True,
        "urls": _urls(spec, version),
    }


def describe_object(spec: ObjectSpec, version: str) -> dict[str, Any]:
    """`GET /sobjects/{name}/describe`."""
    return _summary(spec, version) | {"fields": [_field(field) for field in spec.fields]}


def object_info(spec: ObjectSpec, version: str) -> dict[str, Any]:
    """`GET /sobjects/{name}`: the basic information and recently viewed records (none here)."""
    return {"objectDescribe": _summary(spec, version), "recentItems": []}


def describe_global(version: str) -> dict[str, Any]:
    """`GET /sobjects`."""
    return {"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": [_summary(s, version) for s in OBJECTS.values()]}
