"""search-agent: answers employees' questions from the company handbook, citing the section it read."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date

from faker import Faker

HANDBOOK_URL = "https://handbook.example.com"


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    text: str
    # (question, answer) pairs answered by this section alone.
    qa: tuple[tuple[str, str], ...]


HANDBOOK = (
    Section("4.1", "Paid time off",
            "Full-time employees get 25 days of paid time off per calendar year. Up to 5 unused days carry "
            "over to the next year and expire on 31 March. Requests of 3 days or more need 14 days' notice.",
            (("How many vacation days do I get a year?",
              "Full-time employees get 25 days of paid time off per calendar year (Handbook §4.1)."),
             ("Can I carry unused vacation into next year?",
              "Yes, up to 5 unused days carry over; they expire on 31 March (Handbook §4.1)."),
             ("How much notice do I need to give for a week off?",
              "A request of 3 days or more needs 14 days' notice (Handbook §4.1)."))),
    Section("5.2", "Expenses: meals and lodging",
            "Meals are reimbursed up to $60 per day on domestic trips and $85 per day abroad. Hotels are "
            "capped at $220 per night. Keep receipts for every expense over $25 and file them within 30 days.",
            (("What's the daily meal allowance when I travel abroad?",
              "Meals abroad are reimbursed up to $85 per day; domestic trips $60 (Handbook §5.2)."),
             ("Is there a limit on hotel costs?",
              "Yes: hotels are capped at $220 per night (Handbook §5.2)."),
             ("Which receipts do I need to keep?",
              "Keep receipts for every expense over $25 and file them within 30 days (Handbook §5.2)."))),
    Section("6.3", "On-call rota",
            "Engineers rotate on-call weekly, with handover on Mondays at 10:00. A P1 page must be acknowledged "
            "within 15 minutes. Each on-call week is paid an allowance of $300.",
            (("When does the on-call handover happen?",
              "On-call rotates weekly; the handover is on Mondays at 10:00 (Handbook §6.3)."),
             ("How fast do I need to answer a P1 page?",
              "A P1 page must be acknowledged within 15 minutes (Handbook §6.3)."),
             ("Do we get paid extra for on-call?",
              "Yes, each on-call week is paid an allowance of $300 (Handbook §6.3)."))),
    Section("7.1", "Laptops and equipment",
            "Laptops are refreshed every 36 months. Request a replacement through the IT portal; the standard "
            "models are the 14-inch MacBook Pro and the ThinkPad X1 Carbon. A monitor stipend of $400 is "
            "available once.",
            (("How often can I get a new laptop?",
              "Laptops are refreshed every 36 months; request one through the IT portal (Handbook §7.1)."),
             ("Is there a budget for a monitor?",
              "Yes, a one-time monitor stipend of $400 is available (Handbook §7.1)."))),
    Section("8.4", "Parental leave",
            "Birth and adoptive parents get 20 weeks of fully paid parental leave, to be taken within 12 months "
            "of the birth or adoption. Leave can be split into at most 3 blocks.",
            (("How long is parental leave?",
              "Parents get 20 weeks of fully paid parental leave, taken within 12 months (Handbook §8.4)."),
             ("Can I split my parental leave?",
              "Yes, into at most 3 blocks, all within 12 months of the birth or adoption (Handbook §8.4)."))),
    Section("9.2", "Security training",
            "Every employee completes security awareness training within 30 days of joining and then once a "
            "year. Phishing simulations run every quarter; reporting one counts towards the training.",
            (("When do I have to finish security training?",
              "Within 30 days of joining, and then once a year (Handbook §9.2)."),
             ("How often are the phishing tests?",
              "Phishing simulations run every quarter; reporting one counts towards training (Handbook §9.2)."))),
    Section("3.5", "Remote work",
            "Employees may work remotely up to 3 days a week. A one-time home-office stipend of $500 covers a "
            "desk or chair; internet costs are reimbursed up to $50 per month.",
            (("How many days a week can I work from home?",
              "Up to 3 days a week (Handbook §3.5)."),
             ("Is there a home-office budget?",
              "Yes: a one-time $500 stipend for a desk or chair, and internet up to $50 per month "
              "(Handbook §3.5)."))),
)


def _hits(rng: random.Random, section: Section) -> list[dict]:
    others = rng.sample([s for s in HANDBOOK if s is not section], 2)
    return [{"section": s.id, "title": s.title, "url": f"{HANDBOOK_URL}/{s.id}", "score": round(score, 2)}
            for s, score in ((section, rng.uniform(0.78, 0.95)), (others[0], rng.uniform(0.3, 0.55)),
                             (others[1], rng.uniform(0.2, 0.3)))]


def handbook_answer(f: Faker, rng: random.Random, today: date) -> dict:
    section = rng.choice(HANDBOOK)
    question, answer = rng.choice(section.qa)
    name = f.first_name()
    trace = [
        {"tool": "search_handbook", "args": {"query": question.rstrip("?").lower()}, "result": _hits(rng, section)},
        {"tool": "read_section", "args": {"section": section.id},
         "result": {"section": section.id, "title": section.title, "text": section.text}},
    ]
    return {"input": question, "output": f"Hi {name}! {answer}", "trace": trace,
            "context": {"asked_by": name, "channel": rng.choice(["#ask-people", "#it-help", "DM"])}}


def search_item(f: Faker, rng: random.Random, today: date) -> dict:
    return handbook_answer(f, rng, today)
