"""`SalesforceCrm`: the CRM role over the Salesforce REST API, plus generic query/upsert/update helpers."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from canonical import AccountSnapshot, Amendment, Deal
from canonical.records import CrmAccount, CrmDeal
from connectors.errors import BusinessRuleError, PermanentError
from connectors.kit import client_credentials_token, encode_json, json_body, send
from connectors.salesforce.errors import SYSTEM, classify
from connectors.salesforce.mapping import (
    CLOSED_WON,
    UnmappableRecord,
    account_ref_fields,
    account_snapshot,
    crm_account,
    crm_deal,
    to_amendment,
    to_deal,
)
from connectors.salesforce.reads import SalesforceReads
from connectors.salesforce.wire import (
    AccountRecord,
    AccountSnapshotRecord,
    AmendmentRecord,
    ClosedWonRecord,
    ContractRecord,
    LineItemRecord,
    OpportunityRecord,
    QueryResult,
    SoqlRecord,
    TokenResponse,
    UpsertResult,
    soql_datetime,
    soql_in,
    soql_literal,
)

_RECORD_ID = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")


@dataclass(frozen=True)
class _Session:
    access_token: str
    instance_url: str
    renew_at: float | None = None  # on the connector's clock; None: used until Salesforce refuses it


# Log in again this long before a configured session lifetime runs out, so no session dies between being read and
# being checked.
SESSION_MARGIN_SECONDS = 60.0


M = TypeVar("M", bound=BaseModel)


def _parse(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise PermanentError(SYSTEM, "bad_response", f"unexpected {model.__name__}: {exc}") from exc


def _validation_summary(exc: ValidationError, what: str = "deal") -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or what}: {e['msg']}" for e in exc.errors())


CONTRACT_ACTIVATED = "Activated"
CONTRACT_TERMINATED = "Terminated"  # the org-added status (Salesforce's Terminated category) of an ended contract
CONTRACT_DEAL_FIELD = "C2C_Deal_Id__c"  # the Contract's external id: the opportunity it was made for


class SalesforceCrm(SalesforceReads):
    """OAuth client-credentials login and REST calls on the instance.

    Salesforce's client-credentials answer carries no `expires_in`: a session ends after the org's session timeout
    (Setup > Session Settings, 15 minutes to 24 hours). So the session is rotated two ways: when `session_seconds`
    (the org's timeout) is configured, a new login `SESSION_MARGIN_SECONDS` before it runs out; and whatever the
    configuration, a 401 `INVALID_SESSION_ID` drops the session and logs in once more. A fresh session refused
    again, or a refused login, is PermanentError code `auth` (fix the connected app's credentials, then retry)."""

    system = SYSTEM

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        client_id: str,
        client_secret: str,
        api_version: str = "v60.0",
        *,
        session_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.http = http
        self.session_seconds = session_seconds
        self._clock = clock
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self.api_version = api_version
        self._session: _Session | None = None
        self._login_lock = asyncio.Lock()

    # -- CrmSystem ---------------------------------------------------------------------------------

    async def get_deal(self, deal_id: str) -> Deal:
        rows = await self._by_id(OpportunityRecord, "Opportunity", deal_id, "deal_not_found")
        try:
            opportunity = OpportunityRecord.model_validate(rows[0])
            if not opportunity.AccountId:
                raise UnmappableRecord(f"Opportunity {opportunity.Id} has no AccountId")
            accounts = await self.query(AccountRecord.soql("Account", f"Id = {soql_literal(opportunity.AccountId)}"))
            if not accounts:
                raise UnmappableRecord(f"Account {opportunity.AccountId} of the opportunity does not exist")
            account = AccountRecord.model_validate(accounts[0])
            line_rows = await self.query(
                LineItemRecord.soql("OpportunityLineItem", f"OpportunityId = {soql_literal(opportunity.Id)}")
            )
            lines = [LineItemRecord.model_validate(row) for row in line_rows]
            return to_deal(opportunity, account, lines)
        except UnmappableRecord as exc:
            raise BusinessRuleError(SYSTEM, "invalid_deal", str(exc)) from exc
        except ValidationError as exc:
            raise BusinessRuleError(SYSTEM, "invalid_deal", _validation_summary(exc)) from exc

    async def get_account(self, account_id: str) -> AccountSnapshot:
        """The account as get_deal maps a deal's customer, with its SystemModstamp.

        Raises BusinessRuleError(code='account_not_found') for an unknown id, 'invalid_account' when the
        account cannot be a Customer (the message names the field)."""
        rows = await self._by_id(AccountSnapshotRecord, "Account", account_id, "account_not_found")
        try:
            return account_snapshot(AccountSnapshotRecord.model_validate(rows[0]))
        except UnmappableRecord as exc:
            raise BusinessRuleError(SYSTEM, "invalid_account", str(exc)) from exc
        except ValidationError as exc:
            raise BusinessRuleError(SYSTEM, "invalid_account", _validation_summary(exc)) from exc

    async def write_back_account(self, account_id: str, refs: dict[str, str]) -> None:
        try:
            fields = account_ref_fields(refs)
        except KeyError as exc:
            raise PermanentError(SYSTEM, "unknown_ref", str(exc.args[0])) from exc
        if fields:
            await self.update("Account", account_id, fields)

    async def upsert_contract(self, deal: Deal, subscription_id: str, start: date, term_months: int) -> str:
        """The deal's Contract, upserted by `C2C_Deal_Id__c` = the deal id and then activated; its id. Idempotent.

        Salesforce creates a contract in Draft only and activates it by an update, so the upsert leaves Status
        alone (a new one gets the Draft default) and a second write activates it. A contract already activated
        with these terms is found by one query and not written again (an activated contract's dates are best
        left alone)."""
        account_id = deal.customer.external_refs.get(SYSTEM)
        if not account_id:
            raise PermanentError(SYSTEM, "missing_account_ref", f"deal {deal.deal_id} has no {SYSTEM} account id")
        rows = await self.query(
            ContractRecord.soql("Contract", f"{CONTRACT_DEAL_FIELD} = {soql_literal(deal.deal_id)}")
        )
        if rows:
            found = _parse(ContractRecord, rows[0])
            terms = (found.AccountId, found.StartDate, found.ContractTerm, found.C2C_Subscription_Id__c)
            if found.Status == CONTRACT_ACTIVATED and terms == (account_id, start, term_months, subscription_id):
                return found.Id
        fields = {
            "AccountId": account_id,
            "StartDate": start,
            "ContractTerm": term_months,
            "C2C_Subscription_Id__c": subscription_id,
        }
        contract_id = await self.upsert("Contract", CONTRACT_DEAL_FIELD, deal.deal_id, fields)
        await self.update("Contract", contract_id, {"Status": CONTRACT_ACTIVATED})
        return contract_id

    async def update_contract(
        self, deal_id: str, *, term_months: int | None = None, ended_on: date | None = None, terminated: bool = False
    ) -> None:
        """Move the deal's contract on: a renewed term (`ContractTerm`, so Salesforce's EndDate follows), the last day
        a cancelled subscription serves (`C2C_Ended_On__c`: EndDate is whole months and cannot say it), and its end
        (`Status` Terminated). Absolute values: repeating it changes nothing. PermanentError 'contract_not_found'
        when c2c made no contract for the deal."""
        rows = await self.query(ContractRecord.soql("Contract", f"{CONTRACT_DEAL_FIELD} = {soql_literal(deal_id)}"))
        if not rows:
            raise PermanentError(SYSTEM, "contract_not_found", f"no contract with {CONTRACT_DEAL_FIELD} {deal_id}")
        found = _parse(ContractRecord, rows[0])
        fields: dict[str, Any] = {}
        if term_months is not None:
            fields["ContractTerm"] = term_months
        if ended_on is not None:
            fields["C2C_Ended_On__c"] = ended_on
        if terminated and found.Status != CONTRACT_TERMINATED:
            fields["Status"] = CONTRACT_TERMINATED
        if fields:
            await self.update("Contract", found.Id, fields)

    async def get_amendment(self, deal_id: str) -> Amendment | None:
        """The opportunity as a change to a contract c2c made; None when it has no ContractId.

        BusinessRuleError 'deal_not_found', 'deal_not_closed' (not Closed Won), 'contract_not_found' (no such
        Contract, or one without C2C_Deal_Id__c) or 'invalid_amendment' (the message names the field)."""
        rows = await self._by_id(AmendmentRecord, "Opportunity", deal_id, "deal_not_found")
        try:
            opportunity = AmendmentRecord.model_validate(rows[0])
        except ValidationError as exc:
            raise BusinessRuleError(SYSTEM, "invalid_amendment", _validation_summary(exc, "opportunity")) from exc
        if not opportunity.ContractId:
            return None
        if opportunity.StageName != CLOSED_WON:
            raise BusinessRuleError(
                SYSTEM, "deal_not_closed", f"opportunity {opportunity.Id}: StageName is {opportunity.StageName!r}"
            )
        contracts = await self.query(ContractRecord.soql("Contract", f"Id = {soql_literal(opportunity.ContractId)}"))
        contract = _parse(ContractRecord, contracts[0]) if contracts else None
        if contract is None or not contract.C2C_Deal_Id__c:
            problem = "does not exist" if contract is None else f"has no {CONTRACT_DEAL_FIELD}: c2c did not make it"
            raise BusinessRuleError(
                SYSTEM, "contract_not_found", f"Opportunity.ContractId {opportunity.ContractId} {problem}"
            )
        try:
            line_rows = await self.query(
                LineItemRecord.soql("OpportunityLineItem", f"OpportunityId = {soql_literal(opportunity.Id)}")
            )
            lines = [LineItemRecord.model_validate(row) for row in line_rows]
            return to_amendment(opportunity, contract, lines)
        except UnmappableRecord as exc:
            raise BusinessRuleError(SYSTEM, "invalid_amendment", str(exc)) from exc
        except ValidationError as exc:
            raise BusinessRuleError(SYSTEM, "invalid_amendment", _validation_summary(exc, "amendment")) from exc

    # -- reconciliation reads ----------------------------------------------------------------------

    async def closed_won_deals(self, modified_since: datetime) -> list[CrmDeal]:
        """Closed-won opportunities modified at or after `modified_since` (the close is a modification), one
        SOQL query paged by nextRecordsUrl."""
        where = f"StageName = {soql_literal(CLOSED_WON)} AND LastModifiedDate >= {soql_datetime(modified_since)}"
        rows = await self.query(ClosedWonRecord.soql("Opportunity", where))
        return [crm_deal(_parse(ClosedWonRecord, row)) for row in rows]

    async def accounts(self, account_ids: list[str], golden_ids: list[str]) -> list[CrmAccount]:
        """These accounts, and every account linked to these golden customers (the CRM's duplicates of one
        customer), each once."""
        found: dict[str, CrmAccount] = {}
        for field, values in (("Id", account_ids), ("C2C_Golden_Id__c", golden_ids)):
            for chunk in _chunks(sorted(set(values)), IN_CHUNK):
                rows = await self.query(AccountSnapshotRecord.soql("Account", f"{field} IN {soql_in(chunk)}"))
                for row in rows:
                    account = crm_account(_parse(AccountSnapshotRecord, row))
                    found[account.account_id] = account
        return sorted(found.values(), key=lambda account: account.account_id)

    # -- generic helpers ---------------------------------------------------------------------------

    async def _by_id(
        self, record: type[SoqlRecord], sobject: str, record_id: str, missing: str
    ) -> list[dict[str, Any]]:
        """The one row of `sobject` with `record_id`; BusinessRuleError(`missing`) when there is none."""
        if not _RECORD_ID.match(record_id):
            raise BusinessRuleError(SYSTEM, missing, f"{record_id!r} is not a Salesforce record id")
        try:
            rows = await self.query(record.soql(sobject, f"Id = {soql_literal(record_id)}"))
        except PermanentError as exc:
            if exc.code != "INVALID_QUERY_FILTER_OPERATOR":
                raise
            raise BusinessRuleError(SYSTEM, missing, f"{record_id!r}: {exc.message}") from exc
        if not rows:
            raise BusinessRuleError(SYSTEM, missing, f"no {sobject} with id {record_id}")
        return rows

    async def query(self, soql: str) -> list[dict[str, Any]]:
        """All records of a SOQL query, following nextRecordsUrl; each keeps its `attributes`."""
        response = await self._call("GET", f"{self._data_path}/query", params={"q": soql})
        result = _parse(QueryResult, json_body(SYSTEM, response))
        records = list(result.records)
        while not result.done and result.nextRecordsUrl:
            response = await self._call("GET", result.nextRecordsUrl)
            result = _parse(QueryResult, json_body(SYSTEM, response))
            records.extend(result.records)
        return records

    async def upsert(self, sobject: str, ext_field: str, ext_value: str, fields: dict[str, Any]) -> str:
        """Create or update the record whose external id `ext_field` is `ext_value`; returns its id."""
        path = f"{self._data_path}/sobjects/{_segment(sobject)}/{_segment(ext_field)}/{_segment(ext_value)}"
        response = await self._call("PATCH", path, body=fields)
        return _parse(UpsertResult, json_body(SYSTEM, response)).id

    async def update(self, sobject: str, record_id: str, fields: dict[str, Any]) -> None:
        await self._call("PATCH", f"{self._data_path}/sobjects/{_segment(sobject)}/{_segment(record_id)}", body=fields)

    # -- session and transport ---------------------------------------------------------------------

    @property
    def _data_path(self) -> str:
        return f"/services/data/{self.api_version}"

    async def _call(
        self, method: str, path: str, *, params: dict[str, str] | None = None, body: Any = None
    ) -> httpx.Response:
        """Send on the current session; on 401 log in once more and resend, then give up (PermanentError)."""
        for attempt in (1, 2):
            session = await self._current_session()
            headers = {"Authorization": f"Bearer {session.access_token}", "Accept": "application/json"}
            content = None
            if body is not None:
                headers["Content-Type"] = "application/json"
                content = encode_json(body)
            request = self.http.build_request(
                method, session.instance_url + path, params=params, content=content, headers=headers
            )
            try:
                return await send(self.http, SYSTEM, request, classify)
            except PermanentError as exc:
                if exc.status != 401:
                    raise
                if attempt == 2:
                    raise PermanentError(
                        SYSTEM, "auth", f"Salesforce refused a fresh session: {exc.code}: {exc.message}", status=401
                    ) from exc
                self._forget(session)
        raise AssertionError("unreachable")  # pragma: no cover

    def _usable(self, session: _Session | None) -> bool:
        return session is not None and (session.renew_at is None or self._clock() < session.renew_at)

    async def _current_session(self) -> _Session:
        session = self._session
        if session is not None and self._usable(session):
            return session
        async with self._login_lock:
            if self._session is None or not self._usable(self._session):
                self._session = await self._login()
            return self._session

    def _forget(self, session: _Session) -> None:
        if self._session is session:
            self._session = None

    async def _login(self) -> _Session:
        url = f"{self.base_url}/services/oauth2/token"
        try:
            response = await client_credentials_token(
                self.http, SYSTEM, url, self.client_id, self.client_secret, classify
            )
        except PermanentError as exc:
            raise PermanentError(
                SYSTEM, "auth", f"Salesforce refused c2c's login: {exc.code}: {exc.message}", status=exc.status
            ) from exc
        token = _parse(TokenResponse, response)
        renew_at = None
        if self.session_seconds is not None:
            renew_at = self._clock() + max(0.0, self.session_seconds - SESSION_MARGIN_SECONDS)
        return _Session(token.access_token, (token.instance_url or self.base_url).rstrip("/"), renew_at)


IN_CHUNK = 200  # values per IN (...) list: keeps each query far below SOQL's 100,000-character limit


def _chunks(values: list[str], size: int) -> list[list[str]]:
    return [values[start : start + size] for start in range(0, len(values), size)]


def _segment(value: str) -> str:
    return quote(value, safe="")
