"""Salesforce Outbound Messages: the SOAP `notifications` a workflow rule or flow sends when a record matches (here:
an Opportunity closed won), read safely (defusedxml) and checked as Salesforce's security considerations say, and
the `notificationsResponse` Ack that stops Salesforce retrying.

A message: `OrganizationId`, `ActionId`, `SessionId` (nil unless "Send Session ID" is set), `EnterpriseUrl`,
`PartnerUrl` and 1-100 `Notification` elements, each with its own `Id` (the notification's: Salesforce resends it
with the same id until acknowledged) and an `sObject` (`xsi:type="sf:Opportunity"`) holding the selected fields.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from xml.etree.ElementTree import Element

from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
OUTBOUND = "http://soap.sforce.com/2005/09/outbound"
SOBJECT = "urn:sobject.enterprise.soap.sforce.com"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
MAX_NOTIFICATIONS = 100
_ID = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")

ACK = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}"><soapenv:Body>'
    f'<notificationsResponse xmlns="{OUTBOUND}"><Ack>true</Ack></notificationsResponse>'
    "</soapenv:Body></soapenv:Envelope>"
)


class InvalidOutboundMessage(ValueError):
    """Not a genuine outbound message of the configured org; the message names the problem."""


@dataclass(frozen=True)
class OpportunityNotification:
    notification_id: str
    opportunity_id: str
    stage_name: str | None  # when the outbound message selects StageName


@dataclass(frozen=True)
class OutboundMessage:
    organization_id: str
    action_id: str
    notifications: tuple[OpportunityNotification, ...]


def fault(code: str, message: str) -> str:
    """A SOAP 1.1 fault: what the listener answers instead of an Ack (Salesforce retries the message)."""
    text = message.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}"><soapenv:Body><soapenv:Fault>'
        f"<faultcode>soapenv:{code}</faultcode><faultstring>{text}</faultstring>"
        "</soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    )


def _text(parent: Element, name: str, namespace: str = OUTBOUND, *, required: bool = True) -> str | None:
    found = parent.find(f"{{{namespace}}}{name}")
    value = (found.text or "").strip() if found is not None else ""
    if not value and required:
        raise InvalidOutboundMessage(f"notifications without {name}")
    return value or None


def _same_org(given: str, configured: str) -> bool:
    """Org ids compare by their case-sensitive 15-character form (the 18-character one adds a checksum)."""
    return len(given) in (15, 18) and given[:15] == configured[:15]


def parse_outbound_message(body: bytes, organization_id: str) -> OutboundMessage:
    """The opportunity notifications of a SOAP outbound message from org `organization_id`; InvalidOutboundMessage
    for anything else (malformed XML, entity tricks, another org, another object)."""
    try:
        envelope = ElementTree.fromstring(body, forbid_dtd=True)
    except (ElementTree.ParseError, DefusedXmlException) as exc:
        raise InvalidOutboundMessage(f"not a SOAP message: {type(exc).__name__}: {exc}"[:300]) from None
    soap_body = envelope.find(f"{{{SOAP_ENV}}}Body") if envelope.tag == f"{{{SOAP_ENV}}}Envelope" else None
    notifications = soap_body.find(f"{{{OUTBOUND}}}notifications") if soap_body is not None else None
    if notifications is None:
        raise InvalidOutboundMessage("not a SOAP Envelope whose Body holds an outbound notifications element")
    org = _text(notifications, "OrganizationId") or ""
    if not _same_org(org, organization_id):
        raise InvalidOutboundMessage(f"OrganizationId {org[:18]!r} is not the configured org")
    action = _text(notifications, "ActionId") or ""
    items = notifications.findall(f"{{{OUTBOUND}}}Notification")
    if not 1 <= len(items) <= MAX_NOTIFICATIONS:
        raise InvalidOutboundMessage(f"{len(items)} Notification elements: Salesforce sends 1 to {MAX_NOTIFICATIONS}")
    return OutboundMessage(org, action, tuple(_notification(item) for item in items))


def _notification(item: Element) -> OpportunityNotification:
    notification_id = _text(item, "Id") or ""
    record = item.find(f"{{{OUTBOUND}}}sObject")
    if record is None:
        raise InvalidOutboundMessage(f"Notification {notification_id[:18]!r} has no sObject")
    kind = (record.get(f"{{{XSI}}}type") or "").rpartition(":")[2]
    if kind != "Opportunity":
        raise InvalidOutboundMessage(f"Notification {notification_id[:18]!r}: sObject type {kind!r} is not Opportunity")
    opportunity_id = _text(record, "Id", SOBJECT) or ""
    if not (_ID.match(notification_id) and _ID.match(opportunity_id)):
        raise InvalidOutboundMessage("Notification Id and sObject Id must be Salesforce ids")
    return OpportunityNotification(notification_id, opportunity_id, _text(record, "StageName", SOBJECT, required=False))
