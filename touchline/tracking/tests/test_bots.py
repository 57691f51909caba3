"""Bot detection by user agent: hand-picked cases, then recall and false positives against two public corpora.

- Bots: the `crawler-user-agents` PyPI package (monperrus/crawler-user-agents, MIT) ships its
  `crawler-user-agents.json`, whose entries list real agent strings under "instances"; all of them are bots.
- People: the `device-detector` PyPI package (a maintained Python port of Matomo's device-detector, LGPL) ships
  Matomo's labelled fixtures under `device_detector/tests/fixtures/upstream/`. We take the files of human devices
  (desktop*, smartphone*, tablet*, phablet*) and, in them, the entries whose client type is "browser" and that carry
  no `bot` label. (The `crawler-user-agents` npm package and Matomo's PHP repository have the same data, but only
  PyPI is a registry this project uses.)

Both corpora are development dependencies. The misses and the false positives are printed (`pytest -s`).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from touchline.tracking.bots import bot_reason

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)


@pytest.mark.parametrize(
    "agent",
    [
        CHROME,
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:133.0) Gecko/20100101 Firefox/133.0",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 "
        "Safari/605.1.15",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
        "Safari/537.36 Edg/131.0.0.0",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 "
        "Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 "
        "Chrome/122.0.0.0 Mobile Safari/537.36",
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile "
        "Safari/537.36",
    ],
)
def test_bot_reason_is_none_when_the_agent_is_a_current_browser(agent):
    assert bot_reason(agent) is None


@pytest.mark.parametrize("agent", ["", "   ", "-"])
def test_bot_reason_is_empty_when_there_is_no_agent(agent):
    assert bot_reason(agent) == "empty"


@pytest.mark.parametrize(
    "agent",
    [
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) PhantomJS/2.1.1 Safari/538.1",
        CHROME + " Playwright/1.49.0",
        "Mozilla/5.0 (linux) AppleWebKit/537.36 (KHTML, like Gecko) jsdom/25.0.1",
    ],
)
def test_bot_reason_is_headless_when_the_agent_is_a_headless_browser(agent):
    assert bot_reason(agent) == "headless"


@pytest.mark.parametrize(
    "agent",
    [
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
        "curl/8.5.0",
        "python-requests/2.32.3",
        "Go-http-client/2.0",
        "axios/1.7.7",
        "okhttp/4.12.0",
        "Wget/1.21.4",
        "Viber",  # a bare product name
        "Mozilla/5.0 (compatible; Attracta)",  # "compatible" with no platform
        "Mozilla/5.0 (compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
    ],
)
def test_bot_reason_is_bot_when_the_agent_is_a_crawler_or_http_library(agent):
    assert bot_reason(agent) == "bot"


def test_bot_reason_is_cached_when_asked_twice_for_the_same_agent():
    bot_reason.cache_clear()
    bot_reason(CHROME)
    bot_reason(CHROME)
    info = bot_reason.cache_info()
    assert (info.hits, info.misses) == (1, 1)
    assert info.maxsize is not None  # bounded


def test_bot_reason_stays_quick_when_the_agent_is_huge():
    started = time.perf_counter()
    assert bot_reason("Mozilla/5.0 (" + "a" * 1_000_000) in ("bot", None)
    assert time.perf_counter() - started < 0.5


def _crawler_instances() -> list[str]:
    from crawleruseragents import CRAWLER_USER_AGENTS_DATA

    return sorted({agent for entry in CRAWLER_USER_AGENTS_DATA for agent in entry.get("instances", ())})


def _human_browser_agents() -> list[str]:
    import device_detector

    fixtures = Path(device_detector.__file__).parent / "tests" / "fixtures" / "upstream"
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    agents = set()
    for path in sorted(fixtures.glob("*.yml")):
        if not path.name.startswith(("desktop", "smartphone", "tablet", "phablet")):
            continue
        for entry in yaml.load(path.read_text(encoding="utf-8"), Loader=loader) or ():  # noqa: S506 (a safe loader)
            if "bot" not in entry and (entry.get("client") or {}).get("type") == "browser":
                agents.add(str(entry["user_agent"]))
    return sorted(agents)


def test_bot_reason_finds_at_least_95_percent_of_bots_when_given_the_crawler_user_agents_corpus():
    agents = _crawler_instances()
    assert len(agents) > 1500  # the corpus is there
    misses = [agent for agent in agents if bot_reason(agent) is None]
    recall = 1 - len(misses) / len(agents)
    print(f"\nrecall {recall:.2%}: {len(agents) - len(misses)} of {len(agents)}; {len(misses)} missed:")
    for agent in misses:
        print("  ", agent)
    assert recall >= 0.95


def test_bot_reason_flags_at_most_1_percent_of_people_when_given_device_detectors_browser_fixtures():
    agents = _human_browser_agents()
    assert len(agents) > 10_000  # the fixtures are there
    flagged = [(bot_reason(agent), agent) for agent in agents if bot_reason(agent) is not None]
    rate = len(flagged) / len(agents)
    print(f"\nfalse positives {rate:.2%}: {len(flagged)} of {len(agents)}:")
    for reason, agent in flagged:
        print(f"   {reason}: {agent}")
    assert rate <= 0.01
