"""Demo web traffic and campaigns: a simulated website whose visitors arrive from every kind of source (UTM links
of three campaigns, search, social, AI assistants, referrals, direct), browse a few pages, and some submit a form
and become contacts. Every hit goes through `tracking.services` — the collector's own rules — so sessions, sources
and contacts come out as real traffic would make them. Assets are associated part-way through the history, so
the association-time rule shows in the numbers."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from urllib.parse import quote_plus

from touchline.campaigns import services as campaigns
from touchline.campaigns.models import AssetType
from touchline.core.demo import DemoContext, register_demo_extension
from touchline.crm import services as crm
from touchline.crm.models import Contact, DealStatus
from touchline.tracking import services as tracking

VISITORS = {"tiny": 60, "small": 600, "medium": 2_000, "large": 6_000}
HISTORY_DAYS = 120
SITE = "https://www.acme-demo.test"
PAGES = ("/", "/pricing", "/features", "/customers", "/blog/crm-migration", "/blog/sales-cadence", "/about")
CAMPAIGNS = (
    # name, utm_campaign, landing page, associated days before now, tracking links (source, medium, term)
    ("Spring launch", "spring-launch", "/spring", 75,
     (("newsletter", "email", ""), ("linkedin", "social", ""), ("google", "cpc", "crm software"),
      ("google", "cpc", "sales automation"), ("facebook", "paidsocial", ""))),
    ("Webinar series", "webinar", "/webinar", 50, (("newsletter", "email", ""), ("partner-blog", "referral", ""))),
    ("Partner program", "partners", "/partners", 30, (("partner-portal", "referral", ""),)),
)
# How visitors without a campaign link arrive: (weight, referrer, landing query).
ORGANIC = (
    (30, "https://www.google.com/search?q={q}", ""), (6, "https://www.bing.com/search?q={q}", ""),
    (8, "https://t.co/x1", ""), (6, "https://www.linkedin.com/feed/", ""), (3, "https://chatgpt.com/", ""),
    (8, "https://news.partner-blog.test/review", ""), (14, "", ""), (4, "", "?gclid=demo"),
)
KEYWORDS = ("crm", "sales sequences", "email tracking", "acme crm pricing", "pipeline software")


def _hit_id(n: int) -> str:
    return f"demo-{n:09d}"


@register_demo_extension
def web_demo(ctx: DemoContext) -> dict[str, int]:
    rng, now, account = ctx.rng, ctx.now, ctx.account
    site = tracking.site_create(account=account, name="acme-demo.test", domains="acme-demo.test")
    demo_form = tracking.form_create(account=account, site=site, name="Demo request",
                                     fields=[{"name": "email"}, {"name": "first_name"}, {"name": "last_name"},
                                             {"name": "job_title"}])
    newsletter = tracking.form_create(account=account, site=site, name="Newsletter signup",
                                      fields=[{"name": "email"}])
    made = []
    for n, (name, utm, landing, days_ago, links) in enumerate(CAMPAIGNS):
        start = now - timedelta(days=days_ago)
        campaign = campaigns.campaign_create(
            account=account, name=name, utm_campaign=utm, owner=ctx.users[n % len(ctx.users)],
            start_date=start.date(), budget=[12_000, 4_000, 2_500][n], goal_sessions=[400, 150, 80][n],
            goal_new_contacts=[40, 15, 8][n], goal_influenced_contacts=[120, 40, 20][n], created_at=start)
        page = campaigns.page_asset_get_or_create(account=account, url=SITE + landing,
                                                  asset_type=AssetType.LANDING_PAGE, name=f"{name} landing page")
        campaigns.association_add(campaign=campaign, asset=page, at=start)
        form = demo_form if n == 0 else newsletter
        campaigns.association_add(campaign=campaign, asset=campaigns.form_asset(form=form), at=start)
        for source, medium, term in links:
            campaigns.tracking_url_create(campaign=campaign, page_url=SITE + landing, utm_source=source,
                                          utm_medium=medium, utm_term=term, at=start)
        made.append((campaign, landing, start, links))

    hits = submissions = 0
    created: list[tuple[str, object]] = []  # (email, creation time) of the contacts the forms created
    for v in range(VISITORS[ctx.size]):
        visitor = f"demo-visitor-{v:07d}"
        first_at = now - timedelta(days=HISTORY_DAYS) + timedelta(seconds=rng.random() * HISTORY_DAYS * 86_400)
        at = first_at
        for _ in range(rng.choice((1, 1, 1, 2, 2, 3))):
            if at >= now:
                break
            campaign = rng.random() < 0.35 and [c for c in made if c[2] <= at]
            if campaign:
                campaign, landing, _, links = rng.choice(campaign)
                source, medium, term = rng.choice(links)
                query = f"?utm_campaign={campaign.utm_campaign}&utm_source={source}&utm_medium={medium}"
                url, referrer = SITE + landing + query + (f"&utm_term={quote_plus(term)}" if term else ""), ""
            else:
                _, referrer, query = rng.choices(ORGANIC, weights=[o[0] for o in ORGANIC])[0]
                referrer = referrer.format(q=quote_plus(rng.choice(KEYWORDS)))
                url = SITE + rng.choice(PAGES[:4]) + query
            previous = ""
            for _ in range(rng.choice((1, 2, 2, 3, 4, 5))):
                tracking.pageview_record(site=site, hit=tracking.Hit(
                    hit_id=_hit_id(hits), visitor_key=visitor, url=url, referrer=previous or referrer,
                    title="Acme", occurred_at=at))
                hits += 1
                previous, url = url, SITE + rng.choice(PAGES)
                at += timedelta(seconds=rng.randint(20, 240))
            if rng.random() < 0.12:
                first, last = ctx.fake.first_name(), ctx.fake.last_name()
                # Reserved .example domains (RFC 2606), as the CRM demo uses: demo data never names real mailboxes.
                email = f"{first}.{last}.web{submissions}@{ctx.fake.domain_word()}.example".lower()
                form = demo_form if rng.random() < 0.6 else newsletter
                tracking.form_submission_record(
                    form=form, submission_id=f"demo-sub-{submissions:07d}", visitor_key=visitor,
                    page_url=previous, at=at,
                    data={"email": email, "first_name": first, "last_name": last, "job_title": "Marketing Manager"})
                submissions += 1
                created.append((email, at))
            at += timedelta(hours=rng.randint(2, 24 * 14))
    deals, won = _web_deals(ctx, created)
    return {"campaigns": len(made), "page views": hits, "form submissions": submissions, "web deals": deals,
            "web deals won": won}


DEAL_SHARE, WIN_SHARE = 0.3, 0.4  # of form-created contacts who get a deal; of those deals that are won


def _web_deals(ctx: DemoContext, created) -> tuple[int, int]:
    """Deals for some of the contacts the forms created, some closed won, so campaign revenue has data."""
    rng, now, account = ctx.rng, ctx.now, ctx.account
    pipeline = crm.pipeline_default(account=account)
    stages = list(pipeline.stages.order_by("position"))
    won_stage = next(s for s in stages if s.outcome == DealStatus.WON)
    contacts = {c.email: c for c in Contact.objects.filter(account=account, email__in=[e for e, _ in created])}
    deals = won = 0
    for email, at in created:
        if rng.random() >= DEAL_SHARE:
            continue
        opened = at + timedelta(days=rng.randint(1, 20))
        if opened >= now:
            continue
        contact = contacts[email]
        deal = crm.deal_create(account=account, name=f"{contact.last_name or email} — web deal", contacts=[contact],
                               amount=Decimal(rng.randrange(2_000, 40_000, 250)), created_at=opened,
                               owner=ctx.users[rng.randrange(len(ctx.users))])
        deals += 1
        closed = opened + timedelta(days=rng.randint(5, 40))
        if rng.random() < WIN_SHARE and closed < now:
            crm.deal_update(deal=deal, stage=won_stage, closed_at=closed)
            won += 1
    return deals, won
