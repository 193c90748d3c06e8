"""billing-agent: summarises an invoice from the ERP as a JSON ledger entry."""

from __future__ import annotations

import random
from datetime import date, timedelta

from faker import Faker

CATALOGUE = (
    ("SKU-1001", "Team plan seat (monthly)", 24.00),
    ("SKU-1002", "Business plan seat (monthly)", 49.00),
    ("SKU-2040", "Additional storage, 100 GB", 15.00),
    ("SKU-3100", "Priority support add-on", 199.00),
    ("SKU-3300", "Onboarding workshop (half day)", 850.00),
    ("SKU-4210", "API calls, per 10,000 over quota", 3.50),
    ("SKU-5005", "SSO / SAML add-on", 120.00),
)
TAX_RATES = (0.0, 0.07, 0.0825, 0.2)
TERMS_DAYS = (15, 30, 45)


def _invoice(f: Faker, rng: random.Random, today: date) -> dict:
    lines = []
    for sku, description, unit in rng.sample(CATALOGUE, rng.randint(1, 3)):
        qty = rng.choice([1, 1, 2, 5, 10, 12, 25]) if unit < 100 else 1
        lines.append({"sku": sku, "description": description, "quantity": qty, "unit_price": unit,
                      "amount": round(qty * unit, 2)})
    subtotal = round(sum(line["amount"] for line in lines), 2)
    tax_rate = rng.choice(TAX_RATES)
    tax = round(subtotal * tax_rate, 2)
    total = round(subtotal + tax, 2)
    issued = today - timedelta(days=rng.randint(0, 50))
    due = issued + timedelta(days=rng.choice(TERMS_DAYS))
    paid = rng.choice([0.0, 0.0, total, round(total / 2, 2)])
    status = "paid" if paid >= total else ("overdue" if due < today else "open")
    return {
        "invoice_id": f"INV-{rng.randint(20000, 89999)}",
        "customer": f.company(),
        "currency": "USD",
        "issued_on": issued.isoformat(),
        "due_on": due.isoformat(),
        "lines": lines,
        "subtotal": subtotal,
        "tax_rate": tax_rate,
        "tax": tax,
        "total": total,
        "amount_paid": paid,
        "balance": round(total - paid, 2),
        "status": status,
    }


def invoice_summary(f: Faker, rng: random.Random, today: date) -> dict:
    inv = _invoice(f, rng, today)
    question = rng.choice([
        f"Summarise invoice {inv['invoice_id']} for {inv['customer']} as a JSON ledger entry.",
        f"Ledger entry for {inv['invoice_id']} please ({inv['customer']}).",
    ])
    biggest = max(inv["lines"], key=lambda line: line["amount"])
    note = {
        "paid": "Paid in full.",
        "open": f"Open; balance due by {inv['due_on']}.",
        "overdue": f"Overdue since {inv['due_on']}; consider a reminder.",
    }[inv["status"]]
    output = {
        "invoice_id": inv["invoice_id"],
        "customer": inv["customer"],
        "issued_on": inv["issued_on"],
        "due_on": inv["due_on"],
        "subtotal_usd": inv["subtotal"],
        "tax_usd": inv["tax"],
        "total_usd": inv["total"],
        "balance_usd": inv["balance"],
        "line_count": len(inv["lines"]),
        "status": inv["status"],
        "summary": (f"{len(inv['lines'])} line(s), largest {biggest['description']} at {biggest['amount']}. "
                    f"{note}"),
    }
    trace = [{"tool": "get_invoice", "args": {"invoice_id": inv["invoice_id"]}, "result": inv}]
    if inv["amount_paid"]:
        trace.append({"tool": "list_payments", "args": {"invoice_id": inv["invoice_id"]},
                      "result": [{"amount": inv["amount_paid"], "method": rng.choice(["card", "ACH", "wire"]),
                                  "received_on": inv["issued_on"]}]})
    return {"input": question, "output": output, "trace": trace, "context": {"source": "erp", "ledger": "AR"}}


def billing_item(f: Faker, rng: random.Random, today: date) -> dict:
    return invoice_summary(f, rng, today)
