"""Is a page view's user agent a machine? The collector asks on every hit, so answers are cached per agent.

Crawlers, scripts and HTTP libraries are recognised by the maintained `crawlerdetect` patterns (the same library
the email tracking uses); headless browsers announce themselves in the agent; a request with no agent at all is
no browser. Anything else is taken as a person."""

from __future__ import annotations

from functools import lru_cache

from crawlerdetect import CrawlerDetect

# Real agents are under 300 characters; longer ones are cut before matching so a hostile agent costs little.
MAX_AGENT_LENGTH = 1000
HEADLESS_MARKERS = ("headlesschrome", "phantomjs", "electron/", "puppeteer", "playwright")


@lru_cache(maxsize=1)
def _detector() -> CrawlerDetect:
    return CrawlerDetect()


@lru_cache(maxsize=4096)
def bot_reason(user_agent: str) -> str | None:
    """"empty", "headless" or "bot" for a machine, None for a person's browser."""
    agent = (user_agent or "").strip()[:MAX_AGENT_LENGTH]
    if not agent:
        return "empty"
    lowered = agent.lower()
    if any(marker in lowered for marker in HEADLESS_MARKERS):
        return "headless"
    if _detector().isCrawler(agent):
        return "bot"
    return None
