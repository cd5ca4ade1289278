"""The chaos run's verdict: every system's state against the CRM's closed deals and the sagas' own reports.

It reads only what the vendors hold (each emulator's `/_sandbox/state`) and what the sagas answer to their
`status` query, and finds, naming the deal (won in Salesforce or HubSpot, billed in Stripe or Chargebee, booked in
NetSuite or Xero: each deal is looked for in the systems the run's settings route it to):
  lost                a Closed Won deal in either CRM without a saga
  stuck               a saga neither completed nor parked, or parked without a reason
  unexpected_outcome  parked although the book expects it to complete, or not parked with the expected code
  missing / duplicate not exactly one subscription, billing invoice, succeeded charge, ERP invoice, tax document
                      and applied ERP payment for a completed deal (at most one of each for a parked deal)
  amount              contracted (the CRM amount for the billed period) + tax != invoiced != posted to AR !=
                      collected != applied, or the saga's totals differ from the systems'
  customer            not exactly one billing customer per golden customer and one ERP customer per golden
                      customer and entity, a customer no saga knows, a company (tax id) split over two golden
                      customers, a CRM account not linked to its saga's golden customer; a HubSpot company
                      or deal twice under one key, a company without the saga's ids written back
  totals              per currency, the sums over every record in a system differ from the completed deals'
With the subscriptions' lifecycles (later periods and CRM changes, chaos/lifecycle.py; checked in
chaos/lifecycle_check.py), per subscription:
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
from typing import Any

from chaos.lifecycle_check import LifecycleCheck
from chaos.verdict import (
    CLOSED_WON,
    COMPARED,
    CYCLE,
    MEASURES,
    Expectation,
    LifecycleExpectation,
    PlannedChange,
    Report,
    Systems,
    Violation,
    group,
    minor,
)
from workflows.saga import SagaStatus, Stage
from workflows.subscription_messages import LifecycleStatus

__all__ = ["MEASURES", "Expectation", "LifecycleExpectation", "PlannedChange", "Report", "Violation", "check"]


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
    for opportunity in systems.opportunities + systems.hubspot_deals:
        if opportunity["StageName"] != CLOSED_WON:
            continue
        if opportunity.get("ContractId") and opportunity["Id"] in changes:
            continue  # a change to a contract the run closed: checked with its subscription's lifecycle
        report.closed += 1
        report.counted[opportunity.get("crm", "salesforce")]["closed won"] += 1
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
            LifecycleCheck(systems, report, name, status, lifecycle, plan, expectation).run()
    _check_customers(systems, statuses, expectations, report)
    _check_hubspot_keys(systems, report)
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
        if self.expectation.billing == "chargebee":
            subscriptions = self.s.chargebee_subscriptions.get(self.status.deal_id, [])
            invoices = [
                i
                for sub in subscriptions
                for i in self.s.chargebee_invoices.get(sub["id"], [])
                if i.get("first_invoice")
            ]
            charges = [c for i in invoices for c in self.s.chargebee_paid.get(i["id"], [])]
            return self.erp_records(subscriptions, invoices, charges)
        subscriptions = self.s.subscriptions.get(self.status.deal_id, [])
        invoices = [
            i for sub in subscriptions for i in self.s.invoices.get(sub["id"], []) if i.get("billing_reason") != CYCLE
        ]
        charges = [c for i in invoices for c in self.s.charges.get(i["id"], [])]
        return self.erp_records(subscriptions, invoices, charges)

    def erp_records(
        self, subscriptions: list[dict[str, Any]], invoices: list[dict[str, Any]], charges: list[dict[str, Any]]
    ) -> dict[str, list[dict[str, Any]]]:
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
        return f"c2c-{self.expectation.crm}-{self.status.deal_id}"

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
        self.written_back()
        e, counted = self.expectation, self.report.counted
        for system, kind in (
            (e.billing, "subscriptions"),
            (e.billing, "invoices"),
            (e.billing, "payments"),
            (e.erp, "invoices"),
            (e.erp, "payments"),
            ("avatax", "tax documents"),
        ):
            counted[system][kind] += 1

    def written_back(self) -> None:
        """A HubSpot deal's company holds the saga's ids (Salesforce's account link is checked with the customers)."""
        if self.expectation.crm != "hubspot":
            return
        company = self.s.accounts.get(self.status.external_ids.get("crm_account", ""))
        if company is None:
            self.fail("missing", f"no HubSpot company {self.status.external_ids.get('crm_account')}")
            return
        ids = self.status.external_ids
        wanted = {"billing_customer": ids.get("billing_customer"), "erp_customer": ids.get("erp_customer")}
        wrong = [f"{k} {company.get(k)} != the saga's {v}" for k, v in wanted.items() if company.get(k) != v]
        if wrong:
            self.fail("missing", f"HubSpot company {company['Id']}: {'; '.join(wrong)}")
        else:
            self.report.counted["hubspot"]["write-backs"] += 1

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
        billed, tax_line = billed_lines(invoice)
        applied = sum(
            minor(item["amount"], currency)
            for item in payment["apply"]["items"]
            if item["apply"] and item["doc"]["id"] == erp_invoice["id"]
        )
        figures = {
            "contracted": minor(self.opportunity["Amount"], currency),
            "billed": billed,
            "tax": minor(document["totalTax"], currency),
            "tax line": tax_line,
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


def billed_lines(invoice: dict[str, Any]) -> tuple[int, int]:
    """(the subscription lines, the tax line) of a Stripe or a Chargebee invoice, in minor units."""
    if "line_items" in invoice:  # Chargebee: item price lines, the tax as an ad hoc charge `Tax (…)`
        lines = invoice["line_items"]
        tax = [line for line in lines if line.get("entity_type") == "adhoc" and line["description"].startswith("Tax")]
        return sum(line["amount"] for line in lines if line.get("entity_type") != "adhoc"), sum(
            line["amount"] for line in tax
        )
    lines = invoice["lines"]["data"]
    billed = sum(line["amount"] for line in lines if line.get("type") == "subscription")
    return billed, sum(line["amount"] for line in lines if line.get("metadata", {}).get("c2c_line") == "tax")


def _check_customers(
    systems: Systems, statuses: dict[str, SagaStatus], expectations: dict[str, Expectation], report: Report
) -> None:
    def name(deal_id: str) -> str:
        return f"{expectations[deal_id].key} ({deal_id})" if deal_id in expectations else deal_id

    goldens: dict[str, list[str]] = defaultdict(list)  # golden id -> deals
    billed_customers: dict[str, set[str]] = defaultdict(set)  # billing system -> golden ids with one customer there
    erp_keys: set[str] = set()
    for deal_id, status in statuses.items():
        golden = status.external_ids.get("golden_customer")
        if golden is None:
            continue
        goldens[golden].append(deal_id)
        if "erp_customer" in status.external_ids and status.legal_entity:
            erp_keys.add(f"{golden}-{status.legal_entity}")
        billing = expectations[deal_id].billing if deal_id in expectations else "stripe"
        customers = (systems.chargebee_customers if billing == "chargebee" else systems.stripe_customers).get(
            golden, []
        )
        if "billing_customer" in status.external_ids and len(customers) != 1:
            report.duplicates += max(0, len(customers) - 1)
            detail = f"golden customer {golden} has {len(customers)} billing customers in {billing}"
            report.violations.append(Violation("customer", name(deal_id), detail))
        elif "billing_customer" in status.external_ids:
            billed_customers[billing].add(golden)
        account = systems.accounts.get(status.external_ids.get("crm_account", ""))
        if account is not None and status.stage is Stage.COMPLETED and account.get("C2C_Golden_Id__c") != golden:
            detail = f"CRM account {account['Id']} links {account.get('C2C_Golden_Id__c')}, the saga used {golden}"
            report.violations.append(Violation("customer", name(deal_id), detail))
    for key in erp_keys:
        count = len(systems.erp_customers.get(key, []))
        if count != 1:
            report.duplicates += max(0, count - 1)
            report.violations.append(Violation("customer", None, f"ERP customer {key}: {count} records"))
    for held in (systems.stripe_customers, systems.chargebee_customers):
        for golden, customers in held.items():
            if golden not in goldens:
                ids = ", ".join(c["id"] for c in customers)
                report.violations.append(Violation("customer", None, f"billing customers {ids} belong to no saga"))
    for billing, golden_ids in billed_customers.items():
        report.counted[billing]["customers"] = len(golden_ids)
    for key in systems.erp_customers:
        if key not in erp_keys:
            report.violations.append(Violation("customer", None, f"ERP customer {key} belongs to no saga"))
    _check_companies(systems, statuses, name, report)


def _check_hubspot_keys(systems: Systems, report: Report) -> None:
    """One HubSpot company and one deal per external key: the reps' find-or-create never made a second."""
    for kind, records in (("companies", systems.hubspot_companies), ("deals", systems.hubspot_deals)):
        for key, same in group(records, lambda r: r.get("External_Key__c")).items():
            if len(same) > 1:
                report.duplicates += len(same) - 1
                ids = ", ".join(r["Id"] for r in same)
                report.violations.append(Violation("duplicate", None, f"HubSpot {kind} {ids} under one key {key}"))


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
    for invoice in systems.chargebee_invoice_list:
        if invoice["status"] == "paid":
            found[invoice["currency_code"].upper()]["invoiced"] += invoice["total"]
    for payment in systems.chargebee_payments:
        found[payment["currency_code"].upper()]["collected"] += payment["amount"]
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
