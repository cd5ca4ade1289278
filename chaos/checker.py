"""The chaos run's verdict: every system's state against the CRM's closed deals and the sagas' own reports.

It reads only what the vendors hold (each emulator's `/_sandbox/state`) and what the sagas answer to their
`status` query, and finds, naming the deal:
  lost                a Closed Won deal in the CRM without a saga
  stuck               a saga neither completed nor parked, or parked without a reason
  unexpected_outcome  parked although the book expects it to complete, or not parked with the expected code
  missing / duplicate not exactly one subscription, billing invoice, succeeded charge, ERP invoice, tax document
                      and applied ERP payment for a completed deal (at most one of each for a parked deal)
  amount              contracted (the CRM amount for the billed period) + tax != invoiced != posted to AR !=
                      collected != applied, or the saga's totals differ from the systems'
  customer            not exactly one billing customer per golden customer and one ERP customer per golden
                      customer and entity, a customer no saga knows, a company (tax id) split over two golden
                      customers, a CRM account not linked to its saga's golden customer
  totals              per currency, the sums over every record in a system differ from the completed deals'
With the subscriptions' lifecycles (later periods and CRM changes, chaos/lifecycle.py), per subscription:
  skipped             a renewal invoice billing made that c2c never billed, billed under another period number, or
                      period numbers 2..N with a gap; billing's own periods not contiguous
  duplicate / missing per later period n, not exactly one ERP invoice (externalId = the renewal invoice), succeeded
                      charge, applied ERP payment and tax document `c2c-{crm}-{deal}-p{n}`; not the number of
                      renewals the run moved billing through; a CRM change received twice or never; not exactly
                      one credit note and one ERP credit memo for a cancellation (none without one)
  amount              a period's invoice not paid, its ERP invoice not Paid In Full or its tax not committed;
                      billed lines != the lifecycle's lines, tax document != tax line, invoiced != posted != collected
                      != applied != the lifecycle's totals; a credit note != its credit memo != what the lifecycle
                      credited, or a refund no credit note explains
  change              an upsell or reduction not reflected once in billing's subscription quantities and the
                      lifecycle's lines; a cancelled subscription still active in billing, or one canceled without a
                      cancellation
  stuck               a lifecycle parked, a period not billed, a change not applied
Amounts are compared in minor units of the deal's currency.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from canonical import Money
from canonical.ids import period_tax_document_code
from workflows.saga import SagaStatus, Stage
from workflows.subscription_messages import ChangeState, LifecycleStatus, PeriodState

CLOSED_WON = "Closed Won"
CRM = "salesforce"
MEASURES = ("contracted", "tax", "invoiced", "posted", "collected", "applied", "credited")
COMPARED = ("tax", "invoiced", "posted", "collected", "applied", "credited", "credit memos")
CYCLE = "subscription_cycle"  # billing_reason of a renewal invoice


@dataclass(frozen=True)
class Expectation:
    """What the run's book says about a deal: its key and, for a planted problem, the code it parks with."""

    key: str
    expect_park: str | None = None


@dataclass(frozen=True)
class PlannedChange:
    """A CRM change the run closed on a contract: upsell / reduction (quantity changes by product code) or
    cancellation; `duplicate` when it was delivered a second time."""

    key: str
    kind: str  # upsell | reduction | cancellation
    lines: tuple[tuple[str, int], ...] = ()
    duplicate: bool = False
    opportunity_id: str = ""


@dataclass(frozen=True)
class LifecycleExpectation:
    """What the run did to one subscription: renewal periods billing must have made (2 and 3 = 2), the deal's
    quantities by product code, the CRM changes it closed."""

    periods: int
    lines: dict[str, int]
    changes: tuple[PlannedChange, ...] = ()


@dataclass(frozen=True)
class Violation:
    kind: str
    deal: str | None  # "KEY (crm id)", or None for a finding that is not one deal's
    detail: str

    def __str__(self) -> str:
        return f"{self.deal or '-'}: {self.kind}: {self.detail}"


@dataclass
class Report:
    violations: list[Violation] = field(default_factory=list)
    closed: int = 0
    completed: int = 0
    parked: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0  # records beyond the one each deal or customer should have
    lifecycles: int = 0  # subscriptions whose later periods were checked
    periods: int = 0  # later periods billed and found once in every system
    changes: Counter[str] = field(default_factory=Counter)  # CRM changes applied once, by kind
    ended: Counter[str] = field(default_factory=Counter)  # subscriptions ended, by reason
    totals: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))  # currency -> measure

    @property
    def ok(self) -> bool:
        return not self.violations


def minor(value: Any, currency: str) -> int:
    """A vendor's decimal major-unit amount (JSON number or string) in minor units."""
    return Money.from_decimal(Decimal(str(value)), currency.upper()).amount


def _group(records: Iterable[dict[str, Any]], key: Any) -> dict[Any, list[dict[str, Any]]]:
    groups: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        value = key(record)
        if value is not None:
            groups[value].append(record)
    return groups


class Systems:
    """The emulators' states, indexed the ways the checks look records up."""

    def __init__(self, states: dict[str, Any]) -> None:
        crm, stripe, tax, erp = states["salesforce"], states["stripe"], states["avatax"], states["netsuite"]
        self.opportunities: list[dict[str, Any]] = crm["Opportunity"]
        self.accounts = {a["Id"]: a for a in crm["Account"]}
        self.stripe_customers = _group(stripe["customers"], lambda c: c["metadata"].get("golden_id", ""))
        self.subscriptions = _group(stripe["subscriptions"], lambda s: s["metadata"].get("deal_id"))
        self.invoices = _group(stripe["invoices"], lambda i: i.get("subscription"))
        self.charges = _group(
            (c for c in stripe["charges"] if c["status"] == "succeeded" and c.get("paid")), lambda c: c.get("invoice")
        )
        self.stripe_subscriptions = {s["id"]: s for s in stripe["subscriptions"]}
        self.stripe_invoices: list[dict[str, Any]] = stripe["invoices"]
        self.credit_notes: list[dict[str, Any]] = stripe.get("credit_notes", [])
        self.notes_by_invoice = _group(self.credit_notes, lambda n: n.get("invoice"))
        products = stripe.get("products", [])
        self.product_codes = {p["id"]: p.get("metadata", {}).get("product_code") for p in products}
        self.stripe_charges: list[dict[str, Any]] = stripe["charges"]
        self.documents = _group(tax["documents"], lambda d: d["code"])
        self.tax_documents: list[dict[str, Any]] = tax["documents"]
        self.erp_customers = _group(erp["customer"], lambda c: c.get("externalId"))
        self.erp_invoices = _group(erp["invoice"], lambda i: i.get("externalId"))
        self.erp_invoice_list: list[dict[str, Any]] = erp["invoice"]
        self.erp_payments: list[dict[str, Any]] = erp["customerPayment"]
        self.credit_memo_list: list[dict[str, Any]] = erp.get("creditMemo", [])
        self.credit_memos = _group(self.credit_memo_list, lambda m: m.get("externalId"))
        # ERP payments by the ERP invoice they are applied to
        self.applications: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for payment in erp["customerPayment"]:
            for item in payment["apply"]["items"]:
                if item["apply"]:
                    self.applications[item["doc"]["id"]].append(payment)

    def note_refunds(self, invoice_id: str) -> int:
        """What credit notes on the invoice refunded (a refund is the whole note when the invoice was paid)."""
        return sum(n["total"] for n in self.notes_by_invoice.get(invoice_id, []) if n.get("refund"))

    def product_code(self, item: dict[str, Any]) -> str:
        product = item["price"]["product"]
        product_id = product if isinstance(product, str) else product["id"]
        code = self.product_codes.get(product_id)
        return code or product_id.removeprefix("prod_c2c_").upper().replace("_", "-")


def check(
    expectations: dict[str, Expectation],
    statuses: dict[str, SagaStatus],
    states: dict[str, Any],
    lifecycles: dict[str, LifecycleStatus] | None = None,
    plans: dict[str, LifecycleExpectation] | None = None,
) -> Report:
    """Every violation found (empty = exactly once everywhere, amounts equal, nothing lost or stuck).

    With `plans` (deal id -> what the run did to its subscription) each completed deal in it has its lifecycle
    (`lifecycles`, deal id -> status query) checked period by period and change by change."""
    systems = Systems(states)
    report = Report()
    changes = {c.opportunity_id for plan in (plans or {}).values() for c in plan.changes}
    for opportunity in systems.opportunities:
        if opportunity["StageName"] != CLOSED_WON:
            continue
        if opportunity.get("ContractId") and opportunity["Id"] in changes:
            continue  # a change to a contract the run closed: checked with its subscription's lifecycle
        report.closed += 1
        deal_id = opportunity["Id"]
        expectation = expectations.get(deal_id, Expectation(opportunity.get("External_Key__c") or "?"))
        name = f"{expectation.key} ({deal_id})"
        status = statuses.get(deal_id)
        if status is None:
            report.violations.append(Violation("lost", name, "closed won in the CRM, but no saga"))
            continue
        _DealCheck(systems, report, name, opportunity, status, expectation).run()
        plan = (plans or {}).get(deal_id)
        if plan is not None and status.stage is Stage.COMPLETED:
            lifecycle = (lifecycles or {}).get(deal_id)
            _LifecycleCheck(systems, report, name, status, lifecycle, plan).run()
    _check_customers(systems, statuses, expectations, report)
    _check_totals(systems, report)
    return report


class _DealCheck:
    """The checks of one closed deal that has a saga."""

    def __init__(
        self,
        systems: Systems,
        report: Report,
        name: str,
        opportunity: dict[str, Any],
        status: SagaStatus,
        expectation: Expectation,
    ) -> None:
        self.s, self.report, self.name = systems, report, name
        self.opportunity, self.status, self.expectation = opportunity, status, expectation
        self.currency = str(status.currency or opportunity["CurrencyIsoCode"])

    def fail(self, kind: str, detail: str) -> None:
        self.report.violations.append(Violation(kind, self.name, detail))

    def run(self) -> None:
        stage, problem = self.status.stage, self.status.problem
        if stage is Stage.NEEDS_ATTENTION and problem is not None and problem.code and problem.message:
            self.report.parked[problem.code] += 1
            if self.expectation.expect_park != problem.code:
                self.fail("unexpected_outcome", f"parked with {problem.code}: {problem.message}")
            self.parked()
        elif stage is Stage.COMPLETED:
            self.report.completed += 1
            if self.expectation.expect_park:
                self.fail("unexpected_outcome", f"completed, expected to park with {self.expectation.expect_park}")
            self.completed()
        elif stage is Stage.NEEDS_ATTENTION:
            self.fail("stuck", "parked without a reason")
        elif stage is Stage.CANCELLED:
            self.fail("unexpected_outcome", "cancelled, but nobody cancelled it")
        else:
            self.fail("stuck", f"still in stage {stage.value}")

    def count(self, what: str, records: list[dict[str, Any]], *, exactly: bool) -> dict[str, Any] | None:
        """The one record of a kind; a violation when there are more (or, with `exactly`, none)."""
        if len(records) > 1:
            self.report.duplicates += len(records) - 1
            self.fail("duplicate", f"{len(records)} {what}: {', '.join(str(r.get('id')) for r in records)}")
        elif not records and exactly:
            self.fail("missing", f"no {what}")
        return records[0] if len(records) == 1 else None

    def records(self) -> dict[str, list[dict[str, Any]]]:
        """This deal's records in each system, found from the systems' own links, not from the saga's ids."""
        subscriptions = self.s.subscriptions.get(self.status.deal_id, [])
        invoices = [
            i for sub in subscriptions for i in self.s.invoices.get(sub["id"], []) if i.get("billing_reason") != CYCLE
        ]
        charges = [c for i in invoices for c in self.s.charges.get(i["id"], [])]
        erp_invoices = [e for i in invoices for e in self.s.erp_invoices.get(i["id"], [])]
        payments = [p for e in erp_invoices for p in self.s.applications.get(e["id"], [])]
        documents = self.s.documents.get(self.status.external_ids.get("tax_document") or self.tax_code(), [])
        return {
            "billing subscriptions": subscriptions,
            "billing invoices": invoices,
            "succeeded charges": charges,
            "ERP invoices": erp_invoices,
            "applied ERP payments": payments,
            "tax documents": documents,
        }

    def tax_code(self) -> str:
        return f"c2c-salesforce-{self.status.deal_id}"

    def parked(self) -> None:
        for what, records in self.records().items():
            self.count(what, records, exactly=False)

    def completed(self) -> None:
        found = {what: self.count(what, records, exactly=True) for what, records in self.records().items()}
        one = {what: record for what, record in found.items() if record is not None}
        if len(one) < len(found):
            return  # already reported as missing or duplicate
        self.states(one)
        self.ids(one)
        self.amounts(one)

    def states(self, one: dict[str, dict[str, Any]]) -> None:
        invoice, erp_invoice, document = one["billing invoices"], one["ERP invoices"], one["tax documents"]
        if invoice["status"] != "paid":
            self.fail("amount", f"billing invoice {invoice['id']} is {invoice['status']}, not paid")
        if erp_invoice.get("status") != "Paid In Full":
            self.fail("amount", f"ERP invoice {erp_invoice['id']} is {erp_invoice.get('status')}, not Paid In Full")
        if document["status"] != "Committed":
            self.fail("amount", f"tax document {document['code']} is {document['status']}, not Committed")

    def ids(self, one: dict[str, dict[str, Any]]) -> None:
        """The ids the saga reports are the records the systems hold."""
        ids = self.status.external_ids
        pairs = [
            ("subscription", "billing subscriptions", "id"),
            ("invoice", "billing invoices", "id"),
            ("erp_invoice", "ERP invoices", "id"),
            ("erp_payment", "applied ERP payments", "id"),
            ("tax_document", "tax documents", "code"),
        ]
        for key, what, field_name in pairs:
            held = one[what][field_name]
            if str(ids.get(key)) != str(held):
                self.fail("missing", f"the saga's {key} is {ids.get(key)}, the system holds {held}")

    def amounts(self, one: dict[str, dict[str, Any]]) -> None:
        invoice, charge, document = one["billing invoices"], one["succeeded charges"], one["tax documents"]
        erp_invoice, payment = one["ERP invoices"], one["applied ERP payments"]
        currency = self.currency
        lines = invoice["lines"]["data"]
        applied = sum(
            minor(item["amount"], currency)
            for item in payment["apply"]["items"]
            if item["apply"] and item["doc"]["id"] == erp_invoice["id"]
        )
        figures = {
            "contracted": minor(self.opportunity["Amount"], currency),
            "billed": sum(line["amount"] for line in lines if line.get("type") == "subscription"),
            "tax": minor(document["totalTax"], currency),
            "tax line": sum(line["amount"] for line in lines if line.get("metadata", {}).get("c2c_line") == "tax"),
            "invoiced": invoice["total"],
            "posted": minor(erp_invoice["total"], currency),
            # refunds a credit note explains (a cancellation's) are checked with the lifecycle
            "collected": charge["amount"] - charge.get("amount_refunded", 0) + self.s.note_refunds(invoice["id"]),
            "applied": applied,
        }
        expected_total = figures["contracted"] + figures["tax"]
        unequal = [
            f"{a} {figures[a]} != {b} {figures[b]}"
            for a, b in (("contracted", "billed"), ("tax", "tax line"))
            if figures[a] != figures[b]
        ]
        unequal += [
            f"{m} {figures[m]} != contracted + tax {expected_total}"
            for m in ("invoiced", "posted", "collected", "applied")
            if figures[m] != expected_total
        ]
        totals = self.status.totals
        saga = {"subtotal": figures["contracted"], "tax": figures["tax"], "total": expected_total}
        saga["paid"] = figures["collected"]
        unequal += [f"saga {k} {totals.get(k)} != {v}" for k, v in saga.items() if totals.get(k) != v]
        for problem in unequal:
            self.fail("amount", f"{problem} ({currency})")
        sums = self.report.totals[currency]
        for measure in ("contracted", "tax", "invoiced", "posted", "collected", "applied"):
            sums[measure] += figures[measure]
        sums["collected"] -= self.s.note_refunds(invoice["id"])  # the totals count money as the systems hold it


def _check_customers(
    systems: Systems, statuses: dict[str, SagaStatus], expectations: dict[str, Expectation], report: Report
) -> None:
    def name(deal_id: str) -> str:
        return f"{expectations[deal_id].key} ({deal_id})" if deal_id in expectations else deal_id

    goldens: dict[str, list[str]] = defaultdict(list)  # golden id -> deals
    erp_keys: set[str] = set()
    for deal_id, status in statuses.items():
        golden = status.external_ids.get("golden_customer")
        if golden is None:
            continue
        goldens[golden].append(deal_id)
        if "erp_customer" in status.external_ids and status.legal_entity:
            erp_keys.add(f"{golden}-{status.legal_entity}")
        if "billing_customer" in status.external_ids and len(systems.stripe_customers.get(golden, [])) != 1:
            count = len(systems.stripe_customers.get(golden, []))
            report.duplicates += max(0, count - 1)
            report.violations.append(
                Violation("customer", name(deal_id), f"golden customer {golden} has {count} billing customers")
            )
        account = systems.accounts.get(status.external_ids.get("crm_account", ""))
        if account is not None and status.stage is Stage.COMPLETED and account.get("C2C_Golden_Id__c") != golden:
            detail = f"CRM account {account['Id']} links {account.get('C2C_Golden_Id__c')}, the saga used {golden}"
            report.violations.append(Violation("customer", name(deal_id), detail))
    for key in erp_keys:
        count = len(systems.erp_customers.get(key, []))
        if count != 1:
            report.duplicates += max(0, count - 1)
            report.violations.append(Violation("customer", None, f"ERP customer {key}: {count} records"))
    for golden, customers in systems.stripe_customers.items():
        if golden not in goldens:
            ids = ", ".join(c["id"] for c in customers)
            report.violations.append(Violation("customer", None, f"billing customers {ids} belong to no saga"))
    for key in systems.erp_customers:
        if key not in erp_keys:
            report.violations.append(Violation("customer", None, f"ERP customer {key} belongs to no saga"))
    _check_companies(systems, statuses, name, report)


def _check_companies(systems: Systems, statuses: dict[str, SagaStatus], name: Any, report: Report) -> None:
    """One company (one tax id in the CRM) is one golden customer, whichever CRM account its deals came from."""
    by_tax_id: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for deal_id, status in statuses.items():
        account = systems.accounts.get(status.external_ids.get("crm_account", ""))
        golden = status.external_ids.get("golden_customer")
        if account is not None and account.get("Tax_Id__c") and golden:
            by_tax_id[account["Tax_Id__c"]][golden].append(deal_id)
    for tax_id, split in by_tax_id.items():
        if len(split) > 1:
            report.duplicates += len(split) - 1
            deals = "; ".join(f"{g}: {', '.join(name(d) for d in ds)}" for g, ds in sorted(split.items()))
            report.violations.append(
                Violation("customer", None, f"tax id {tax_id} has {len(split)} golden customers: {deals}")
            )


def _check_totals(systems: Systems, report: Report) -> None:
    """Per currency, every paid invoice, ERP invoice, charge and application in the systems, against the deals.

    A record no deal accounts for (a second invoice under another subscription, a payment applied to nothing the
    deals know) shows up here even when no deal check sees it."""
    found: dict[str, Counter[str]] = defaultdict(Counter)
    for invoice in systems.stripe_invoices:
        if invoice["status"] == "paid":
            found[invoice["currency"].upper()]["invoiced"] += invoice["total"]
    for charge in systems.stripe_charges:
        if charge["status"] == "succeeded" and charge.get("paid"):
            found[charge["currency"].upper()]["collected"] += charge["amount"] - charge.get("amount_refunded", 0)
    for erp_invoice in systems.erp_invoice_list:
        if erp_invoice.get("status") == "Paid In Full":
            currency = erp_invoice["currency"]["refName"]
            found[currency]["posted"] += minor(erp_invoice["total"], currency)
    for payment in systems.erp_payments:
        currency = payment["currency"]["refName"]
        found[currency]["applied"] += minor(payment.get("applied", 0), currency)
    for document in systems.tax_documents:
        if document["status"] == "Committed":
            currency = document["currencyCode"]
            found[currency]["tax"] += minor(document["totalTax"], currency)
    for note in systems.credit_notes:
        found[note["currency"].upper()]["credited"] += note["total"]
    for memo in systems.credit_memo_list:
        currency = memo["currency"]["refName"]
        found[currency]["credit memos"] += minor(memo["total"], currency)
    for currency in sorted(set(found) | set(report.totals)):
        for measure in COMPARED:
            in_systems = found[currency][measure]
            in_deals = report.totals[currency]["credited" if measure == "credit memos" else measure]
            if in_systems != in_deals:
                detail = (
                    f"{currency} {measure}: the systems hold {in_systems}, the completed deals account for {in_deals}"
                )
                report.violations.append(Violation("totals", None, detail))


class _LifecycleCheck:
    """A completed deal's subscription after its first period: every renewal billing made, billed once by c2c in
    every system under its own period number; every CRM change the run closed, applied once."""

    def __init__(
        self,
        systems: Systems,
        report: Report,
        name: str,
        saga: SagaStatus,
        status: LifecycleStatus | None,
        plan: LifecycleExpectation,
    ) -> None:
        self.s, self.report, self.name, self.saga, self.status, self.plan = systems, report, name, saga, status, plan
        self.currency = str(saga.currency or "USD")

    def fail(self, kind: str, detail: str) -> None:
        self.report.violations.append(Violation(kind, self.name, detail))

    def count(self, what: str, records: list[dict[str, Any]]) -> dict[str, Any] | None:
        if len(records) > 1:
            self.report.duplicates += len(records) - 1
            ids = ", ".join(str(r.get("id") or r.get("code")) for r in records)
            self.fail("duplicate", f"{len(records)} {what}: {ids}")
        elif not records:
            self.fail("missing", f"no {what}")
        return records[0] if len(records) == 1 else None

    def run(self) -> None:
        status = self.status
        if status is None:
            self.fail("missing", "no subscription lifecycle answered (the saga completed, so it should run)")
            return
        self.report.lifecycles += 1
        if status.problem is not None:
            problem = status.problem
            self.fail("stuck", f"lifecycle parked in {status.stage.value}: {problem.code}: {problem.message}")
        subscriptions = self.s.subscriptions.get(self.saga.deal_id, [])
        if len(subscriptions) != 1:
            return  # reported by the deal's own check
        subscription = subscriptions[0]
        if status.subscription_id != subscription["id"]:
            self.fail("missing", f"the lifecycle follows {status.subscription_id}, billing holds {subscription['id']}")
            return
        self.periods(subscription)
        self.changes(subscription)
        if status.ended:
            self.report.ended[status.ended] += 1

    # ---- periods --------------------------------------------------------------------------------------------

    def periods(self, subscription: dict[str, Any]) -> None:
        status = self.require_status()
        invoices = self.s.invoices.get(subscription["id"], [])
        renewals = sorted((i for i in invoices if i.get("billing_reason") == CYCLE), key=_service_start)
        first = [i for i in invoices if i.get("billing_reason") != CYCLE]
        later = [p for p in status.periods if p.number >= 2]
        numbers = Counter(p.number for p in later)
        for number, times in sorted(numbers.items()):
            if times > 1:
                self.report.duplicates += times - 1
                self.fail("duplicate", f"period {number} appears {times} times in the lifecycle")
        if numbers and sorted(numbers) != list(range(2, max(numbers) + 1)):
            gaps = sorted(set(range(2, max(numbers) + 1)) - set(numbers))
            self.fail("skipped", f"period(s) {', '.join(map(str, gaps))} missing between 2 and {max(numbers)}")
        if len(renewals) != self.plan.periods:
            kind = "missing" if len(renewals) < self.plan.periods else "duplicate"
            self.fail(kind, f"billing made {len(renewals)} renewal invoice(s), the run moved it through "
                      f"{self.plan.periods} period(s)")  # fmt: skip
        # billing's own periods follow each other
        previous = _service_end(first[0]) if len(first) == 1 else None
        for invoice in renewals:
            start = _service_start(invoice)
            if previous is not None and start != previous:
                self.fail("skipped", f"billing's renewal {invoice['id']} starts at {start}, its previous period "
                          f"ended at {previous}")  # fmt: skip
            previous = _service_end(invoice)
        by_invoice: dict[str, list[Any]] = defaultdict(list)
        for period in later:
            by_invoice[period.ids.get("invoice", "")].append(period)
        for index, invoice in enumerate(renewals):
            n = index + 2
            billed = by_invoice.get(invoice["id"], [])
            if not billed:
                self.fail("skipped", f"period {n}: billing's renewal invoice {invoice['id']} was never billed by c2c")
            elif len(billed) > 1:
                self.report.duplicates += len(billed) - 1
                self.fail("duplicate", f"renewal invoice {invoice['id']} billed as periods "
                          f"{', '.join(str(p.number) for p in billed)}")  # fmt: skip
            elif billed[0].number != n:
                self.fail(
                    "skipped", f"billing's period {n} (invoice {invoice['id']}) billed as period {billed[0].number}"
                )
            else:
                self.period(n, invoice, billed[0])
        known = {i["id"] for i in renewals}
        for period in later:
            if period.ids.get("invoice") not in known:
                self.fail("missing", f"period {period.number}: invoice {period.ids.get('invoice')} is no renewal of "
                          f"{subscription['id']} in billing")  # fmt: skip

    def period(self, n: int, invoice: dict[str, Any], period: Any) -> None:
        if period.state is not PeriodState.BILLED:
            self.fail("stuck", f"period {n} is {period.state.value}")
        code = period_tax_document_code(CRM, self.saga.deal_id, n)
        erp_invoices = self.s.erp_invoices.get(invoice["id"], [])
        found = {
            "ERP invoice": self.count(f"ERP invoices for period {n}", erp_invoices),
            "charge": self.count(f"succeeded charges for period {n}", self.s.charges.get(invoice["id"], [])),
            "tax document": self.count(f"tax documents {code} for period {n}", self.s.documents.get(code, [])),
        }
        erp_invoice = found["ERP invoice"]
        payments = self.s.applications.get(erp_invoice["id"], []) if erp_invoice else []
        found["payment"] = self.count(f"applied ERP payments for period {n}", payments) if erp_invoice else None
        if any(record is None for record in found.values()):
            return
        erp_invoice, charge, document, payment = (
            found["ERP invoice"], found["charge"], found["tax document"], found["payment"]
        )  # fmt: skip
        assert erp_invoice is not None
        assert charge is not None
        assert document is not None
        assert payment is not None
        currency = self.currency
        if invoice["status"] != "paid":
            self.fail("amount", f"period {n}: billing invoice {invoice['id']} is {invoice['status']}, not paid")
        if erp_invoice.get("status") != "Paid In Full":
            self.fail("amount", f"period {n}: ERP invoice {erp_invoice['id']} is {erp_invoice.get('status')}")
        if document["status"] != "Committed":
            self.fail("amount", f"period {n}: tax document {code} is {document['status']}, not Committed")
        for key, held in (("erp_invoice", erp_invoice["id"]), ("erp_payment", payment["id"]), ("tax_document", code)):
            if str(period.ids.get(key)) != str(held):
                self.fail(
                    "missing", f"period {n}: the lifecycle's {key} is {period.ids.get(key)}, the system holds {held}"
                )
        lines = invoice["lines"]["data"]
        tax_line = sum(line["amount"] for line in lines if line.get("metadata", {}).get("c2c_line") == "tax")
        subscription_lines = sum(line["amount"] for line in lines if line.get("type") == "subscription")
        refunds = self.s.note_refunds(invoice["id"])
        applied = sum(
            minor(item["amount"], currency)
            for item in payment["apply"]["items"]
            if item["apply"] and item["doc"]["id"] == erp_invoice["id"]
        )
        figures = {
            "lifecycle lines": sum(line.amount.amount for line in period.lines),
            "billed lines": subscription_lines,
            "subtotal": invoice["total"] - tax_line,
            "tax": minor(document["totalTax"], currency),
            "tax line": tax_line,
            "invoiced": invoice["total"],
            "posted": minor(erp_invoice["total"], currency),
            "collected": charge["amount"] - charge.get("amount_refunded", 0) + refunds,
            "applied": applied,
        }
        pairs = [("lifecycle lines", "billed lines"), ("tax", "tax line")]
        pairs += [("invoiced", m) for m in ("posted", "collected", "applied")]
        unequal = [f"{a} {figures[a]} != {b} {figures[b]}" for a, b in pairs if figures[a] != figures[b]]
        mine = {"subtotal": figures["subtotal"], "tax": figures["tax"], "total": figures["invoiced"]}
        mine["paid"] = charge["amount"]
        unequal += [
            f"lifecycle {k} {period.totals.get(k)} != {v}" for k, v in mine.items() if period.totals.get(k) != v
        ]
        for problem in unequal:
            self.fail("amount", f"period {n}: {problem} ({currency})")
        self.report.periods += 1
        sums = self.report.totals[currency]
        sums["contracted"] += figures["subtotal"]
        for measure in ("tax", "invoiced", "posted", "applied"):
            sums[measure] += figures[measure]
        sums["collected"] += charge["amount"] - charge.get("amount_refunded", 0)

    # ---- CRM changes ------------------------------------------------------------------------------------------

    def changes(self, subscription: dict[str, Any]) -> None:
        status = self.require_status()
        quantities = dict(self.plan.lines)
        cancelled = False
        planned = {c.opportunity_id for c in self.plan.changes}
        for record in status.changes:
            if record.amendment.deal_id not in planned:
                self.fail(
                    "unexpected_outcome", f"the lifecycle holds a change nobody closed: {record.amendment.deal_id}"
                )
        for change in self.plan.changes:
            records = [r for r in status.changes if r.amendment.deal_id == change.opportunity_id]
            what = f"{change.kind} {change.key} ({change.opportunity_id})" + (
                " delivered twice" if change.duplicate else ""
            )
            if not records:
                self.fail("missing", f"{what} never reached the lifecycle")
                continue
            if len(records) > 1:
                self.report.duplicates += len(records) - 1
                self.fail("duplicate", f"{what} recorded {len(records)} times")
            record = records[0]
            if record.state is ChangeState.REFUSED:
                self.fail("unexpected_outcome", f"{what} refused: {record.rule}: {record.detail}")
                continue
            if record.state is not ChangeState.APPLIED:
                self.fail("stuck", f"{what} is {record.state.value}")
                continue
            self.report.changes[change.kind] += 1
            if change.kind == "cancellation":
                cancelled = True
            for code, delta in change.lines:
                quantities[code] = quantities.get(code, 0) + delta
        expected = {code: q for code, q in quantities.items() if q}
        lifecycle = {line.product_code: line.quantity for line in status.lines}
        if lifecycle != expected:
            self.fail("change", f"the lifecycle's quantities {lifecycle} != the deal's and its changes' {expected}")
        billing: Counter[str] = Counter()
        for item in subscription["items"]["data"]:
            billing[self.s.product_code(item)] += item["quantity"]
        if dict(billing) != expected:
            self.fail("change", f"billing's quantities {dict(billing)} != the deal's and its changes' {expected}")
        self.credits(subscription, cancelled)

    def credits(self, subscription: dict[str, Any], cancelled: bool) -> None:
        status = self.require_status()
        invoices = {i["id"] for i in self.s.invoices.get(subscription["id"], [])}
        notes = [n for i in sorted(invoices) for n in self.s.notes_by_invoice.get(i, [])]
        for invoice_id in sorted(invoices):
            charges = self.s.charges.get(invoice_id, [])
            refunded = sum(c.get("amount_refunded", 0) for c in charges)
            if refunded != self.s.note_refunds(invoice_id):
                self.fail("amount", f"invoice {invoice_id}: {refunded} refunded, credit notes explain "
                          f"{self.s.note_refunds(invoice_id)}")  # fmt: skip
        if not cancelled:
            if subscription["status"] == "canceled":
                self.fail("change", f"billing canceled {subscription['id']} without a cancellation")
            if status.ended:
                self.fail("change", f"the lifecycle ended ({status.ended}) without a cancellation")
            if notes:
                self.report.duplicates += len(notes)
                self.fail("duplicate", f"credit notes without a cancellation: {', '.join(n['id'] for n in notes)}")
            return
        if subscription["status"] != "canceled":
            self.fail("change", f"cancelled, but billing's {subscription['id']} is {subscription['status']}")
        if status.ended != "cancelled":
            self.fail("change", f"cancelled, but the lifecycle says ended={status.ended}")
        credited = [p for p in status.periods if "credit_note" in p.ids]
        note = self.count("credit notes for the cancellation", notes)
        if note is None:
            return
        if len(credited) != 1 or credited[0].ids["credit_note"] != note["id"]:
            self.fail(
                "missing", f"the lifecycle's credit notes {[p.ids['credit_note'] for p in credited]} != {note['id']}"
            )
            return
        period = credited[0]
        memo = self.count(f"ERP credit memos for {note['id']}", self.s.credit_memos.get(note["id"], []))
        if note["invoice"] != period.ids.get("invoice"):
            self.fail("amount", f"credit note {note['id']} credits {note['invoice']}, not period {period.number}'s "
                      f"invoice {period.ids.get('invoice')}")  # fmt: skip
        if not 0 < note["total"] <= period.totals.get("total", 0) or note["total"] != period.credited:
            self.fail("amount", f"credit note {note['id']} of {note['total']}, the lifecycle credited "
                      f"{period.credited} of period {period.number}'s {period.totals.get('total')}")  # fmt: skip
        if memo is None:
            return
        if (memo.get("createdFrom") or {}).get("id") != period.ids.get("erp_invoice"):
            self.fail(
                "amount", f"credit memo {memo['id']} is not created from ERP invoice {period.ids.get('erp_invoice')}"
            )
        if minor(memo["total"], self.currency) != note["total"]:
            self.fail("amount", f"credit memo {memo['id']} totals {memo['total']}, the credit note {note['total']}")
        if str(period.ids.get("erp_credit_memo")) != str(memo["id"]):
            self.fail(
                "missing",
                f"the lifecycle's credit memo is {period.ids.get('erp_credit_memo')}, the ERP holds {memo['id']}",
            )
        self.report.totals[self.currency]["credited"] += note["total"]

    def require_status(self) -> LifecycleStatus:
        assert self.status is not None
        return self.status


def _service_period(invoice: dict[str, Any]) -> dict[str, Any]:
    """The service period of an invoice: its subscription line's (a renewal's `period_start` is the period before)."""
    lines = [line for line in invoice["lines"]["data"] if line.get("type") == "subscription" and "period" in line]
    return lines[0]["period"] if lines else {"start": invoice.get("period_start"), "end": invoice.get("period_end")}


def _service_start(invoice: dict[str, Any]) -> Any:
    return _service_period(invoice)["start"]


def _service_end(invoice: dict[str, Any]) -> Any:
    return _service_period(invoice)["end"]
