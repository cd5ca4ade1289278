"""The chaos checker's part for subscriptions after their first period (chaos/checker.py says what it finds)."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from canonical.ids import period_tax_document_code
from chaos.billing_records import billing_records
from chaos.verdict import (
    Expectation,
    LifecycleExpectation,
    Report,
    Systems,
    Violation,
    minor,
)
from workflows.saga import SagaStatus
from workflows.subscription_messages import ChangeState, LifecycleStatus, PeriodState


class LifecycleCheck:
    """A completed deal's subscription after its first period: every renewal billing made, billed once by c2c in
    every system under its own period number; every CRM change the run closed, applied once. Billing is the deal's
    entity's (Stripe, or Chargebee: chaos/billing_records.py reads either), the ERP NetSuite or Xero (one view)."""

    def __init__(
        self,
        systems: Systems,
        report: Report,
        name: str,
        saga: SagaStatus,
        status: LifecycleStatus | None,
        plan: LifecycleExpectation,
        expectation: Expectation | None = None,
    ) -> None:
        self.s, self.report, self.name, self.saga, self.status, self.plan = systems, report, name, saga, status, plan
        self.currency = str(saga.currency or "USD")
        self.expectation = expectation or Expectation(name)
        self.billing = billing_records(self.expectation.billing, systems)

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
        subscriptions = self.billing.subscriptions(self.saga.deal_id)
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
        invoices = self.billing.invoices(subscription)
        renewals = sorted((i for i in invoices if self.billing.is_renewal(i)), key=lambda i: self.billing.service(i)[0])
        first = [i for i in invoices if not self.billing.is_renewal(i)]
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
        previous = self.billing.service(first[0])[1] if len(first) == 1 else None
        for invoice in renewals:
            start, end = self.billing.service(invoice)
            if previous is not None and start != previous:
                self.fail("skipped", f"billing's renewal {invoice['id']} starts at {start}, its previous period "
                          f"ended at {previous}")  # fmt: skip
            previous = end
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
        code = period_tax_document_code(self.expectation.crm, self.saga.deal_id, n)
        erp_invoices = self.s.erp_invoices.get(invoice["id"], [])
        found = {
            "ERP invoice": self.count(f"ERP invoices for period {n}", erp_invoices),
            "charge": self.count(f"succeeded charges for period {n}", self.billing.payments(invoice["id"])),
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
        subscription_lines, tax_line = self.billing.lines(invoice)
        refunds = self.billing.note_refunds(invoice["id"])
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
        for system in (self.expectation.billing, self.expectation.erp):  # the summary's per-system table
            self.report.counted[system]["renewals"] += 1
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
        billing = self.billing.quantities(subscription)
        if dict(billing) != expected:
            self.fail("change", f"billing's quantities {dict(billing)} != the deal's and its changes' {expected}")
        self.credits(subscription, cancelled)

    def credits(self, subscription: dict[str, Any], cancelled: bool) -> None:
        status = self.require_status()
        invoices = {i["id"] for i in self.billing.invoices(subscription)}
        notes = [n for i in sorted(invoices) for n in self.billing.notes(i)]
        for invoice_id in sorted(invoices):
            charges = self.billing.payments(invoice_id)
            refunded = sum(c.get("amount_refunded", 0) for c in charges)
            if refunded != self.billing.note_refunds(invoice_id):
                self.fail("amount", f"invoice {invoice_id}: {refunded} refunded, credit notes explain "
                          f"{self.billing.note_refunds(invoice_id)}")  # fmt: skip
        if not cancelled:
            if subscription["status"] == self.billing.canceled:
                self.fail("change", f"billing canceled {subscription['id']} without a cancellation")
            if status.ended:
                self.fail("change", f"the lifecycle ended ({status.ended}) without a cancellation")
            if notes:
                self.report.duplicates += len(notes)
                self.fail("duplicate", f"credit notes without a cancellation: {', '.join(n['id'] for n in notes)}")
            return
        if self.expectation.billing != "stripe":
            # The run cancels Stripe subscriptions only (chaos/lifecycle.py): Chargebee credit notes are not read.
            self.fail(
                "unexpected_outcome", f"a cancellation of a {self.expectation.billing} subscription is not checked"
            )
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
        credit_tax = period.ids.get("credit_tax")
        if credit_tax:  # the credit's own tax document (negative tax, committed when it credits tax) nets the total
            committed = [d for d in self.s.documents.get(credit_tax, []) if d["status"] == "Committed"]
            document = self.count(f"committed tax documents {credit_tax}", committed) if committed else None
            if document is not None:
                self.report.totals[self.currency]["tax"] += minor(document["totalTax"], self.currency)

    def require_status(self) -> LifecycleStatus:
        assert self.status is not None
        return self.status
