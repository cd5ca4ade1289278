"""Outbound Messages, as a workflow rule or flow action an admin sets up without code would send them: when an
opportunity becomes Closed Won, a SOAP `notifications` message (Outbound Messaging WSDL, namespace
http://soap.sforce.com/2005/09/outbound) with the org id, the action id, no session id, the API URLs and one
`Notification` (its own id, and the opportunity's selected fields as an `sObject` of type `sf:Opportunity`).

Delivery is at least once, as Salesforce's: a message counts as delivered only when the listener answers 200 with a
`notificationsResponse` whose `Ack` is true; anything else (another status, a SOAP fault, a false Ack, no answer) is
retried with exponential back-off under the same notification id. Salesforce keeps trying for 24 hours, at most two
hours apart; the emulator makes `ATTEMPTS` attempts, `FIRST_BACKOFF` doubling up to `MAX_BACKOFF` apart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any
from xml.sax.saxutils import escape

import httpx
from defusedxml import ElementTree

from sandbox import outgoing

ATTEMPTS = 10
FIRST_BACKOFF = 0.05
MAX_BACKOFF = 5.0
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
OUTBOUND = "http://soap.sforce.com/2005/09/outbound"
# The opportunity's fields the outbound message was set up to send (Id always comes).
FIELDS = ("Id", "Name", "AccountId", "StageName", "CloseDate", "Amount", "CurrencyIsoCode")


def envelope(org_id: str, action_id: str, instance_url: str, notifications: list[tuple[str, dict[str, Any]]]) -> str:
    """The SOAP message for (notification id, opportunity) pairs."""
    items = []
    for notification_id, record in notifications:
        fields = "".join(
            f"<sf:{name}>{escape(str(record[name]))}</sf:{name}>" for name in FIELDS if record.get(name) is not None
        )
        items.append(
            f"<Notification><Id>{notification_id}</Id>"
            f'<sObject xsi:type="sf:Opportunity" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">{fields}</sObject>'
            "</Notification>"
        )
    api = f"{instance_url}/services/Soap"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}" xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
        f'<notifications xmlns="{OUTBOUND}"><OrganizationId>{org_id}</OrganizationId>'
        f'<ActionId>{action_id}</ActionId><SessionId xsi:nil="true"/>'
        f"<EnterpriseUrl>{api}/c/60.0/{org_id[:15]}</EnterpriseUrl><PartnerUrl>{api}/u/60.0/{org_id[:15]}</PartnerUrl>"
        f"{''.join(items)}</notifications></soapenv:Body></soapenv:Envelope>"
    )


def acknowledged(response: httpx.Response) -> bool:
    """A 200 whose SOAP body is a notificationsResponse with Ack true."""
    if response.status_code != 200:
        return False
    try:
        root = ElementTree.fromstring(response.content, forbid_dtd=True)
    except Exception:  # noqa: BLE001 - any unreadable answer is simply not an Ack
        return False
    ack = root.find(f"{{{SOAP_ENV}}}Body/{{{OUTBOUND}}}notificationsResponse/{{{OUTBOUND}}}Ack")
    return ack is not None and (ack.text or "").strip() == "true"


class OutboundMessenger:
    """Sends the closed-won outbound message to `url` (none: the action is not set up) and records each delivery."""

    def __init__(self, url: str | None, org_id: str, action_id: str, new_id: Callable[[], str]) -> None:
        self.url = url
        self.org_id = org_id
        self.action_id = action_id
        self.new_id = new_id  # a notification id (key prefix 04l)
        self.instance_url = "http://127.0.0.1"
        self.deliveries: list[dict[str, Any]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def closed_won(self, record: dict[str, Any]) -> None:
        if not self.url:
            return
        notification_id = self.new_id()
        body = envelope(self.org_id, self.action_id, self.instance_url, [(notification_id, record)]).encode()
        delivery: dict[str, Any] = {
            "notificationId": notification_id,
            "recordId": record["Id"],
            "url": self.url,
            "attempts": 0,
            "statusCode": None,
            "acknowledged": False,
        }
        self.deliveries.append(delivery)
        task = asyncio.get_running_loop().create_task(self._deliver(delivery, body, self.url))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, delivery: dict[str, Any], body: bytes, url: str) -> None:
        headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}
        async with outgoing.client(timeout=10.0) as client:
            for attempt in range(1, ATTEMPTS + 1):
                delivery["attempts"] = attempt
                try:
                    response = await client.post(url, content=body, headers=headers)
                except httpx.HTTPError:
                    delivery["statusCode"] = None
                else:
                    delivery["statusCode"] = response.status_code
                    if acknowledged(response):
                        delivery["acknowledged"] = True
                        return
                if attempt < ATTEMPTS:
                    await asyncio.sleep(min(MAX_BACKOFF, FIRST_BACKOFF * 2 ** (attempt - 1)))

    def reset(self) -> None:
        for task in self._tasks:
            task.cancel()
        self.deliveries.clear()
