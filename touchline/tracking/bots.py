"""Which hits come from programs rather than people, by their User-Agent.

`bot_reason(user_agent)` returns why a hit is not a person's, or None for a human browser:
- "empty": no agent at all (real browsers always send one);
- "headless": a headless or remote-controlled browser (HeadlessChrome, PhantomJS, Puppeteer, Playwright, Selenium,
  an Electron shell…);
- "bot": a crawler, monitor, preview fetcher or HTTP library. The maintained `crawlerdetect` library (a port of
  JayBizzle/Crawler-Detect) decides first; it misses about one in seven of the agents in the `crawler-user-agents`
  corpus, mostly services that name themselves plainly, so three signs that a program wrote the agent are added:
  a contact URL, e-mail or lower-case domain name in it ("+https://…", "bot@example.com", "remove.bg/1.0"), a few
  words no browser uses ("webhook", "uptime", "synthetic", "-User"…), and an agent that is a bare product name with
  no platform comment ("Viber", "Magellan", "FeedFlow/1.0"). `tests/test_bots.py` measures recall on that corpus and
  false positives on Matomo device-detector's labelled browser agents.

The collector calls this for every hit, so answers are cached per agent (bounded LRU).
"""

from __future__ import annotations

import functools
import re

from crawlerdetect import CrawlerDetect

# Agents are cut to this length before matching. No agent of either test corpus is longer than 420 characters, and
# crawlerdetect's patterns cost time that grows faster than the length (0.1 s at 512 characters of one long word,
# 0.8 s at 2048), so a hostile agent costs little.
_MAX_AGENT = 512

_EMPTY = frozenset({"", "-", "null", "undefined"})

_HEADLESS = re.compile(
    r"headless|phantomjs|slimerjs|puppeteer|playwright|selenium|webdriver|htmlunit|jsdom/"
    r"|electron/",  # Electron shells drive scrapers (Nightmare); desktop apps open links in the browser
    re.I,
)

# Signs that a program, not a browser, wrote the agent. Browsers put no URL, address or domain in it and don't call
# themselves "…-User" (Perplexity-User, Manus-User are agents fetching on someone's behalf).
_PROGRAM_SIGNS = re.compile(
    r"https?://|\+https?\b|\bwww\.[\w-]+\.[a-z]|[\w.+-]+@[\w-]+\.[a-z]{2,}"  # a contact URL or e-mail
    r"|(?i:scanner|scanning|\bscan\b|monitor|webhook|synthetic|audit|archiv|harvest|preview|parser|checker|uptime"
    r"|scraping|scraper|http ?client|api client|fetcher|prefetch|research|unfurl|[-_ ]hook\b|agent\b)"
    r"|-User\b"
    r"|(?<![\w./])[a-z][a-z0-9-]*\.(?:com|net|org|io|ai|app|dev|cloud|info|eu|fr|de|uk|co|gy|ly|se|ua|nu|es|at|me|so)\b"
)
# A bare product name, optionally versioned, with no "(platform; …)" comment: "Viber", "Google-Safety",
# "NextCloud-News/1.0", "Datadog Agent/7.69.2". Every browser that runs the tracking script sends a platform comment.
_BARE_PRODUCT = re.compile(r"[A-Za-z][\w.-]*(?:[ -][A-Za-z][\w.-]*){0,3}(?:/[\w.-]+)?")
# "Mozilla/5.0 (compatible; Name)" with nothing else: a browser would name its platform.
_BARE_COMPATIBLE = re.compile(r"Mozilla/\d\.\d \(compatible;\s*[^;()]+\)")

_CRAWLER_DETECT = CrawlerDetect()


@functools.lru_cache(maxsize=16384)
def bot_reason(user_agent: str) -> str | None:
    """ "empty", "headless" or "bot" when the agent is not a person's browser, else None (see the module docstring)."""
    agent = user_agent.strip()[:_MAX_AGENT] if isinstance(user_agent, str) else ""
    if agent.lower() in _EMPTY:
        return "empty"
    if _HEADLESS.search(agent):
        return "headless"
    if (
        _PROGRAM_SIGNS.search(agent)
        or _BARE_PRODUCT.fullmatch(agent)
        or _BARE_COMPATIBLE.fullmatch(agent)
        or _CRAWLER_DETECT.is_crawler(agent)
    ):
        return "bot"
    return None
