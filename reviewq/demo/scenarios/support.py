"""support-bot: answers customers' order questions from the order and shipment tools."""

from __future__ import annotations

import random
from datetime import date, timedelta

from faker import Faker

PRODUCTS = (
    ("standing desk", 489.00), ("noise-cancelling headphones", 249.99), ("espresso grinder", 179.50),
    ("trail running shoes", 134.95), ("27-inch 4K monitor", 379.00), ("ergonomic chair", 329.00),
    ("mechanical keyboard", 119.00), ("cast-iron skillet", 42.90), ("robot vacuum", 299.00),
    ("down jacket", 219.00), ("electric kettle", 59.99), ("yoga mat", 38.50),
)
CARRIERS = ("UPS", "DHL", "FedEx", "USPS")
CITIES = ("Columbus", "Memphis", "Louisville", "Reno", "Allentown", "Fort Worth", "Sacramento", "Joliet")
RETURN_WINDOW_DAYS = 30


def _order(f: Faker, rng: random.Random, today: date) -> dict:
    product, price = rng.choice(PRODUCTS)
    qty = rng.choice([1, 1, 1, 2])
    placed = today - timedelta(days=rng.randint(3, 40))
    return {
        "order_id": f"A-{rng.randint(100000, 999999)}",
        "customer": f.first_name(),
        "product": product,
        "quantity": qty,
        # Decimal strings, as payment APIs send money: the reply quotes them digit for digit.
        "unit_price_usd": f"{price:.2f}",
        "total_usd": f"{price * qty:.2f}",
        "placed_on": placed.isoformat(),
    }


def _tracking(rng: random.Random, order: dict, today: date, delivered: bool) -> dict:
    carrier = rng.choice(CARRIERS)
    shipped = date.fromisoformat(order["placed_on"]) + timedelta(days=rng.randint(1, 2))
    track = {
        "carrier": carrier,
        "tracking_number": f"{carrier[:2].upper()}{rng.randint(10**9, 10**10 - 1)}",
        "shipped_on": shipped.isoformat(),
        "last_scan": rng.choice(CITIES),
    }
    if delivered:
        delivered_on = min(today, shipped + timedelta(days=rng.randint(2, 5)))
        track |= {"status": "delivered", "delivered_on": delivered_on.isoformat()}
    else:
        track |= {"status": "in_transit", "estimated_delivery": (today + timedelta(days=rng.randint(1, 4))).isoformat()}
    return track


def where_is_my_order(f: Faker, rng: random.Random, today: date) -> dict:
    order = _order(f, rng, today)
    track = _tracking(rng, order, today, delivered=False)
    question = rng.choice([
        f"Hi, I'm {order['customer']}. My order {order['order_id']} (the {order['product']}) hasn't arrived yet. "
        "Where is it?",
        f"Where is order {order['order_id']}? I ordered the {order['product']} on {order['placed_on']} and "
        "nothing has come.",
    ])
    answer = (
        f"Hi {order['customer']}, thanks for your patience. Order {order['order_id']} "
        f"({order['quantity']} × {order['product']}) shipped on {track['shipped_on']} with {track['carrier']}, "
        f"tracking number {track['tracking_number']}. It was last scanned in {track['last_scan']} and is "
        f"expected on {track['estimated_delivery']}. If it hasn't arrived by then, reply here and I'll open "
        "a trace with the carrier."
    )
    trace = [
        {"tool": "lookup_order", "args": {"order_id": order["order_id"]}, "result": order},
        {"tool": "track_shipment", "args": {"tracking_number": track["tracking_number"]}, "result": track},
    ]
    return {"input": question, "output": answer, "trace": trace,
            "context": {"channel": rng.choice(["chat", "email"]), "customer": order["customer"]}}


def can_i_return(f: Faker, rng: random.Random, today: date) -> dict:
    order = _order(f, rng, today)
    track = _tracking(rng, order, today, delivered=True)
    days = (today - date.fromisoformat(track["delivered_on"])).days
    eligible = days <= RETURN_WINDOW_DAYS
    policy = {"return_window_days": RETURN_WINDOW_DAYS, "days_since_delivery": days, "eligible": eligible,
              "refund_usd": order["total_usd"] if eligible else "0.00"}
    question = (f"Can I still return the {order['product']} from order {order['order_id']}? "
                f"{rng.choice(['It arrived scratched.', 'It is not what I expected.', 'It is too small.'])}")
    if eligible:
        answer = (
            f"Yes, {order['customer']}: order {order['order_id']} was delivered on {track['delivered_on']}, "
            f"{days} days ago, which is inside our {RETURN_WINDOW_DAYS}-day return window. I've emailed you a "
            f"prepaid {track['carrier']} label; once the {order['product']} is scanned we refund "
            f"${order['total_usd']} to your original payment method."
        )
    else:
        answer = (
            f"I'm sorry, {order['customer']}: order {order['order_id']} was delivered on {track['delivered_on']}, "
            f"{days} days ago, so it is outside our {RETURN_WINDOW_DAYS}-day return window. The "
            f"{order['product']} is still under the manufacturer's warranty if it is faulty."
        )
    trace = [
        {"tool": "lookup_order", "args": {"order_id": order["order_id"]}, "result": order | {"status": "delivered"}},
        {"tool": "check_return_policy", "args": {"order_id": order["order_id"]}, "result": policy},
    ]
    return {"input": question, "output": answer, "trace": trace, "context": {"channel": "chat"}}


def charged_twice(f: Faker, rng: random.Random, today: date) -> dict:
    order = _order(f, rng, today)
    payments = [
        {"id": f"ch_{rng.getrandbits(40):010x}", "amount_usd": order["total_usd"], "state": "captured"},
        {"id": f"ch_{rng.getrandbits(40):010x}", "amount_usd": order["total_usd"], "state": "authorization_released"},
    ]
    question = f"Order {order['order_id']}: I was charged twice for the {order['product']}. Please help."
    answer = (
        f"Hi {order['customer']}, I checked the payments on order {order['order_id']}. You were charged once: "
        f"${order['total_usd']} was captured. The second ${order['total_usd']} line on your statement is "
        "a card authorization that has already been released; your bank removes it within a few days."
    )
    trace = [
        {"tool": "lookup_order", "args": {"order_id": order["order_id"]}, "result": order},
        {"tool": "list_payments", "args": {"order_id": order["order_id"]}, "result": payments},
    ]
    return {"input": question, "output": answer, "trace": trace, "context": {"channel": "email"}}


SCENARIOS = ((where_is_my_order, 0.5), (can_i_return, 0.3), (charged_twice, 0.2))


def support_item(f: Faker, rng: random.Random, today: date) -> dict:
    fn = rng.choices([s for s, _ in SCENARIOS], weights=[w for _, w in SCENARIOS])[0]
    return fn(f, rng, today)
