"""A deterministic demo account: the same size and seed always give the same rows.

The generator uses one `random.Random(seed)` and a Faker instance seeded from it (never global random), and a
fixed `now` when given, so tests can pin it. It writes with bulk inserts for speed but keeps the invariants
the CRM services enforce: emails normalised and unique, a deal's status and close date consistent with its
stage, a deal created after its contacts and closed after it was created.

Later issues extend it (sequences, web traffic, campaigns) so every report has data.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import autodiscover_modules
from django_scopes import scope, scopes_disabled
from faker import Faker

from touchline.core.accounts import account_create
from touchline.core.models import Account, Membership, Plan, Role
from touchline.crm.models import Company, Contact, Deal, DealContact, DealStatus, LifecycleStage, TrafficSource
from touchline.crm.services import pipeline_default

DEMO_ACCOUNT_NAME = "Northwind Demo"
DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo"  # noqa: S105 - a local demo only: printed by `touchline serve`, documented in the README
SIZES = {"tiny": 60, "small": 2_000, "medium": 50_000, "large": 1_000_000}
HISTORY_DAYS = 548  # 18 months
BATCH = 5_000

INDUSTRIES = ("Software", "Manufacturing", "Retail", "Healthcare", "Financial services", "Logistics",
              "Education", "Media", "Construction", "Hospitality")
JOB_TITLES = ("CEO", "CTO", "VP Sales", "Head of Marketing", "Marketing Manager", "Sales Manager", "Account Executive",
              "Operations Manager", "Procurement Lead", "IT Director", "Product Manager", "CFO", "Office Manager")
# Original sources of contacts, weighted roughly like a B2B site's.
SOURCE_WEIGHTS = ((TrafficSource.ORGANIC_SEARCH, 30), (TrafficSource.PAID_SEARCH, 12),
                  (TrafficSource.ORGANIC_SOCIAL, 8), (TrafficSource.PAID_SOCIAL, 5),
                  (TrafficSource.EMAIL_MARKETING, 10), (TrafficSource.REFERRALS, 9), (TrafficSource.DIRECT, 14),
                  (TrafficSource.AI_REFERRALS, 2), (TrafficSource.OTHER_CAMPAIGNS, 3), (TrafficSource.OFFLINE, 7))
STAGE_WEIGHTS = ((LifecycleStage.SUBSCRIBER, 15), (LifecycleStage.LEAD, 45), (LifecycleStage.MQL, 15),
                 (LifecycleStage.SQL, 10), (LifecycleStage.OPPORTUNITY, 8), (LifecycleStage.CUSTOMER, 7))
WIN_RATE = 0.27
SALES_TEAM = (("Maya", "Okafor"), ("Liam", "Brennan"), ("Sofia", "Marques"), ("Noah", "Lindqvist"),
              ("Aisha", "Rahman"), ("Jonas", "Weber"), ("Chloé", "Martin"), ("Ethan", "Park"))


@dataclass(frozen=True)
class DemoContext:
    """What a demo extension gets: the account and its team, the generator's random state and clock."""

    account: Account
    users: list
    size: str
    rng: random.Random
    fake: Faker
    now: datetime


# Other apps extend the demo from their own `demo` modules (sequences, web traffic, campaigns), each adding
# its counts; they run after the CRM rows exist, in registration order.
DEMO_EXTENSIONS: list[Callable[[DemoContext], dict[str, int]]] = []


def register_demo_extension(extend: Callable[[DemoContext], dict[str, int]]):
    DEMO_EXTENSIONS.append(extend)
    return extend


@dataclass(frozen=True)
class DemoResult:
    account: Account
    username: str
    password: str
    counts: dict[str, int]


def database_is_empty() -> bool:
    """True when no account exists yet: `touchline serve` then creates the demo."""
    return not Account.objects.exists()


def demo_account() -> Account | None:
    return Account.objects.filter(name=DEMO_ACCOUNT_NAME).first()


def _weighted(rng: random.Random, weights) -> str:
    values, w = zip(*weights, strict=True)
    return rng.choices(values, weights=w)[0]


def _growth_time(rng: random.Random, start: datetime, end: datetime) -> datetime:
    """A time in [start, end) with density rising linearly: a business that grows."""
    fraction = math.sqrt(rng.random())
    return start + (end - start) * fraction


@transaction.atomic
def demo_create(*, size: str = "small", seed: int = 1, now: datetime | None = None,
                replace: bool = False) -> DemoResult:
    """Create the demo account and its sales team, companies, contacts and deals; returns the login."""
    if size not in SIZES:
        raise ValueError(f"unknown demo size {size!r}; choose one of {', '.join(SIZES)}")
    now = now or timezone.now().replace(microsecond=0)
    with scopes_disabled():
        existing = demo_account()
        if existing is not None:
            if not replace:
                raise ValueError(f"a demo account already exists ({existing.name}); use --replace to rebuild it")
            existing.delete()
    rng = random.Random(seed)
    fake = Faker("en_US")
    fake.seed_instance(seed)
    users = _create_team()
    account = account_create(name=DEMO_ACCOUNT_NAME, plan=Plan.ENTERPRISE, time_zone="Europe/Berlin")
    Membership.objects.bulk_create(
        Membership(user=u, account=account, role=Role.ADMIN if u.username == DEMO_USERNAME else Role.MEMBER)
        for u in users)
    with scope(account=account):
        counts = _populate(account, users, SIZES[size], rng, fake, now)
        autodiscover_modules("demo")
        for extend in DEMO_EXTENSIONS:
            counts |= extend(DemoContext(account, users, size, rng, fake, now))
    return DemoResult(account=account, username=DEMO_USERNAME, password=DEMO_PASSWORD, counts=counts)


def _create_team() -> list:
    User = get_user_model()
    users = []
    demo = User.objects.filter(username=DEMO_USERNAME).first()
    if demo is None:
        demo = User.objects.create_user(DEMO_USERNAME, "demo@northwind.example", DEMO_PASSWORD,
                                        first_name="Dana", last_name="Demo")
    users.append(demo)
    for first, last in SALES_TEAM:
        username = f"{first.lower()}.{last.lower()}".replace("é", "e")
        user = User.objects.filter(username=username).first() or User.objects.create_user(
            username, f"{username}@northwind.example", None, first_name=first, last_name=last)
        users.append(user)
    return users


def _populate(account: Account, users: list, n_contacts: int, rng: random.Random, fake: Faker,
              now: datetime) -> dict[str, int]:
    start = now - timedelta(days=HISTORY_DAYS)
    reps = users[1:]

    # Companies: about one per eight contacts, with a size that drives deal amounts.
    n_companies = max(3, n_contacts // 8)
    companies, company_sizes, used_domains = [], [], set()
    for i in range(n_companies):
        name = fake.company()
        stem = "".join(ch for ch in name.lower().split(",")[0].split(" ")[0] if ch.isalnum()) or "company"
        domain = f"{stem}.example"
        while domain in used_domains:
            domain = f"{stem}{i}.example"
        used_domains.add(domain)
        company_sizes.append(rng.lognormvariate(3.5, 1.2))  # employees, heavy-tailed
        companies.append(Company(account=account, name=name, domain=domain, industry=rng.choice(INDUSTRIES),
                                 owner=rng.choice(reps), created_at=_growth_time(rng, start, now)))
    Company.objects.bulk_create(companies, batch_size=BATCH)

    # Contacts: created over 18 months, growing; most work at a company.
    contacts, used_emails = [], set()
    for _ in range(n_contacts):
        company_index = rng.randrange(n_companies) if rng.random() < 0.92 else None
        company = companies[company_index] if company_index is not None else None
        first, last = fake.first_name(), fake.last_name()
        domain = company.domain if company else rng.choice(("gmail.example", "outlook.example", "proton.example"))
        local = f"{first}.{last}".lower().replace("'", "").replace(" ", "")
        email, n = f"{local}@{domain}", 1
        while email in used_emails:
            n += 1
            email = f"{local}{n}@{domain}"
        used_emails.add(email)
        created = _growth_time(rng, start, now)
        if company is not None and created < company.created_at:
            created = company.created_at + timedelta(hours=rng.randint(1, 72))
        contacts.append(Contact(
            account=account, email=email, first_name=first, last_name=last, job_title=rng.choice(JOB_TITLES),
            owner=rng.choice(reps), company=company, lifecycle_stage=_weighted(rng, STAGE_WEIGHTS),
            original_source=_weighted(rng, SOURCE_WEIGHTS), created_at=min(created, now)))
    Contact.objects.bulk_create(contacts, batch_size=BATCH)

    by_company: dict[int, list[Contact]] = {}
    for contact in contacts:
        if contact.company_id:
            by_company.setdefault(contact.company_id, []).append(contact)
    sizes = {c.pk: s for c, s in zip(companies, company_sizes, strict=True)}
    company_names = {c.pk: c.name for c in companies}

    # Deals: roughly one per eight contacts, at companies with contacts; older deals are more often closed.
    stages = list(pipeline_default(account=account).stages.order_by("position"))
    open_stages = [s for s in stages if s.outcome == DealStatus.OPEN]
    won = next(s for s in stages if s.outcome == DealStatus.WON)
    lost = next(s for s in stages if s.outcome == DealStatus.LOST)
    company_ids = sorted(by_company)
    deals, links = [], []
    for _ in range(max(1, n_contacts // 8)):
        company_id = rng.choice(company_ids)
        people = rng.sample(by_company[company_id], k=min(len(by_company[company_id]), rng.choice((1, 1, 2, 3))))
        latest = max(p.created_at for p in people)  # a deal comes after its contacts are known
        created = latest + timedelta(days=rng.uniform(1, 60))
        if created >= now:
            continue
        age_days = (now - created).days
        amount = Decimal(max(500, round(rng.lognormvariate(math.log(4000 + 60 * sizes[company_id]), 0.6), -2)))
        if rng.random() < min(0.95, age_days / 120):
            stage = won if rng.random() < WIN_RATE else lost
            closed = created + timedelta(days=rng.uniform(7, min(150, max(8, age_days))))
            closed = min(closed, now)
        else:
            stage, closed = rng.choice(open_stages), None
        kind = rng.choice(("New business", "Expansion", "Renewal", "Pilot"))
        deal = Deal(account=account, name=f"{company_names[company_id]} — {kind}",
                    amount=amount, currency="EUR", pipeline=stage.pipeline, stage=stage, status=stage.outcome,
                    owner=people[0].owner, company_id=company_id, created_at=created, closed_at=closed)
        deals.append(deal)
        links.append(people)
    Deal.objects.bulk_create(deals, batch_size=BATCH)
    DealContact.objects.bulk_create(
        (DealContact(account=account, deal=deal, contact=p) for deal, people in zip(deals, links, strict=True)
         for p in people), batch_size=BATCH)
    return {"users": len(reps) + 1, "companies": len(companies), "contacts": len(contacts), "deals": len(deals)}

