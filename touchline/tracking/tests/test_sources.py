"""Traffic source of a session: SPEC §3 rules 1-15, and Matomo's shipped referrer lists.

Expected kinds, details and keywords below are worked out by hand from the SPEC rules and the list entries.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import fields
from urllib.parse import quote, unquote

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from touchline.tracking import sources
from touchline.tracking.sources import (
    SOURCE_KINDS,
    SOURCE_LABELS,
    WEBMAIL_AND_FEED_READER_HOSTS,
    TrafficSource,
    is_external_referrer,
    lossy_host,
    session_source,
)

OWN = ("example.com",)
LANDING = "https://example.com/"


def source(landing: str = LANDING, referrer: str = "", own_hosts=OWN) -> TrafficSource | None:
    return session_source(landing_url=landing, referrer=referrer, own_hosts=own_hosts)


def _yaml(name: str):
    return yaml.safe_load((sources.DATA_DIR / name).read_text(encoding="utf-8"))


def _concrete(entry: str) -> str:
    """A list entry as a referrer's host[/path]: `{}` in the TLD → `co.uk`, as a subdomain label → `de`."""
    entry = re.sub(r"\{\}(?=/|$)", "co.uk", entry)
    return entry.replace("{}", "de")


def _referrer_for(entry: str, query: str = "") -> str:
    entry = _concrete(entry)
    if entry.startswith("android-app//"):
        return "android-app://" + entry.removeprefix("android-app//") + query
    host, slash, path = entry.partition("/")
    return f"https://{host}/{path}{query}"


# A host in two lists classifies by the earlier rule: AI assistants (11) and social sites (9) before search (12).
SEARCH_HOSTS_OWNED_BY_EARLIER_RULES = {
    "chatgpt.com": ("ai_referrals", "ChatGPT"),
    "chat.openai.com": ("ai_referrals", "ChatGPT"),
    "you.com": ("ai_referrals", "You"),
    "www.perplexity.ai": ("ai_referrals", "Perplexity"),
    "www.facebook.com": ("organic_social", "Facebook"),
    "searchservice.myspace.com": ("organic_social", "Myspace"),
}


def _search_cases():
    for name, configs in _yaml("SearchEngines.yml").items():
        for config in configs:
            plain = [p for p in config.get("params") or () if not p.startswith("/")]
            for url in config["urls"]:
                if url in SEARCH_HOSTS_OWNED_BY_EARLIER_RULES:
                    kind, detail = SEARCH_HOSTS_OWNED_BY_EARLIER_RULES[url]
                    yield pytest.param(_referrer_for(url), kind, detail, "", id=url)
                elif plain:
                    query = f"?{plain[0]}={quote('Touchline CRM')}"
                    yield pytest.param(
                        _referrer_for(url, query), "organic_search", unquote(name), "touchline crm", id=url
                    )
                else:
                    yield pytest.param(_referrer_for(url), "organic_search", unquote(name), "", id=url)


def _site_cases(filename: str, kind: str):
    for name, urls in _yaml(filename).items():
        for url in urls:
            yield pytest.param(_referrer_for(url), kind, unquote(name), id=url)


@pytest.mark.parametrize(("referrer", "kind", "detail", "keyword"), list(_search_cases()))
def test_session_source_is_the_engine_and_keyword_when_the_referrer_is_any_listed_search_engine(
    referrer, kind, detail, keyword
):
    assert source(referrer=referrer) == TrafficSource(kind, detail, keyword)


@pytest.mark.parametrize(("referrer", "kind", "detail"), list(_site_cases("Socials.yml", "organic_social")))
def test_session_source_is_the_network_when_the_referrer_is_any_listed_social_site(referrer, kind, detail):
    assert source(referrer=referrer) == TrafficSource(kind, detail)


@pytest.mark.parametrize(("referrer", "kind", "detail"), list(_site_cases("AIAssistants.yml", "ai_referrals")))
def test_session_source_is_the_assistant_when_the_referrer_is_any_listed_ai_assistant(referrer, kind, detail):
    assert source(referrer=referrer) == TrafficSource(kind, detail)


@pytest.mark.parametrize("entry", WEBMAIL_AND_FEED_READER_HOSTS)
def test_session_source_is_direct_when_the_referrer_is_any_webmail_or_feed_reader(entry):
    assert source(referrer=_referrer_for(entry)) == TrafficSource("direct")


def test_shipped_lists_are_the_upstream_files_when_hashed_as_git_blobs():
    """data/SOURCE.md records each file's git blob; the files are byte-for-byte copies of that commit."""
    recorded = dict(re.findall(r"\| `(\w+\.yml)` \| `([0-9a-f]{40})` \|", (sources.DATA_DIR / "SOURCE.md").read_text()))
    assert sorted(recorded) == ["AIAssistants.yml", "SearchEngines.yml", "Socials.yml"]
    for name, blob in recorded.items():
        data = (sources.DATA_DIR / name).read_bytes()
        assert hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest() == blob, name  # noqa: S324 (git's hash)


def test_lists_are_loaded_once_when_called_repeatedly():
    assert sources._lists() is sources._lists()


# Matomo's own cases for UrlHelper::getLossyUrl (tests/PHPUnit/Unit/UrlHelperTest.php).
@pytest.mark.parametrize(
    ("host", "lossy"),
    [
        ("example.com", "example.com"),
        ("m.example.com", "example.com"),
        ("www.example.com", "example.com"),
        ("search.example.com", "example.com"),
        ("example.ca", "example.{}"),
        ("us.example.com", "{}.example.com"),
        ("www.m.example.ca", "example.{}"),
        ("www.google.com.af", "google.{}"),
        ("www.google.co.uk", "google.{}"),
        ("images.de.ask.com", "images.{}.ask.com"),
    ],
)
def test_lossy_host_matches_matomo_when_given_its_examples(host, lossy):
    assert lossy_host(host) == lossy


@pytest.mark.parametrize(
    ("referrer", "engine", "keyword"),
    [
        ("https://www.google.com/search?q=marketing+attribution&hl=en", "Google", "marketing attribution"),
        ("https://www.google.de/#q=Touchline", "Google", "touchline"),  # keyword in the fragment
        ("https://www.google.com.br/search?q=crm", "Google", "crm"),
        ("https://www.google.com/", "Google", ""),  # today's referrer: origin only (hiddenkeyword "/")
        ("https://www.google.com/search?q=", "Google", ""),  # empty keyword parameter
        ("https://www.bing.com/search?q=CRM%20software&form=QBLH", "Bing", "crm software"),
        ("https://cn.bing.com/search?q=crm", "Bing", "crm"),  # {}.bing.com
        ("https://www.bing.com/images/search?q=logo", "Bing Images", "logo"),  # host + path entry
        ("https://search.yahoo.com/search?p=sales+sequences", "Yahoo!", "sales sequences"),
        ("https://yandex.ru/search/?text=%D0%BF%D1%80%D0%BE%D0%B4%D0%B0%D0%B6%D0%B8", "Yandex", "продажи"),
        ("https://www.baidu.com/s?wd=%E8%90%A5%E9%94%80", "Baidu", "营销"),
        ("https://duckduckgo.com/?q=touchline", "DuckDuckGo", "touchline"),
        ("https://www.ecosia.org/search?q=Open+Source+CRM", "Ecosia", "open source crm"),
        ("https://search.naver.com/search.naver?query=crm", "Naver", "crm"),
        ("https://1.cz/s/touchline/", "1.cz", "touchline"),  # a /regex/ parameter over the URL
        (
            "android-app://com.google.android.googlequicksearchbox/https/www.google.com",
            "Google",
            "",
        ),
    ],
)
def test_session_source_extracts_the_keyword_when_the_referrer_is_a_search_results_page(referrer, engine, keyword):
    assert source(referrer=referrer) == TrafficSource("organic_search", engine, keyword)


def test_session_source_is_a_referral_when_a_search_engine_page_has_no_keyword_and_is_not_a_results_page():
    """Matomo: a host that runs a search engine is a search only on its results pages (or its home page)."""
    assert source(referrer="https://www.google.com/partners.html") == TrafficSource(
        "referrals", "google.com", "/partners.html"
    )
    assert source(referrer="https://www.cnn.com/2026/03/01/tech/story") == TrafficSource(
        "referrals", "cnn.com", "/2026/03/01/tech/story"
    )


# One or more cases per SPEC rule: (rule, landing query or URL, referrer, expected).
RULE_CASES = [
    # 1 utm_medium "social" and utm_source a known network, or the referrer social
    (1, "?utm_source=facebook&utm_medium=social", "", TrafficSource("organic_social", "Facebook")),
    (1, "?utm_source=FB&utm_medium=Social", "", TrafficSource("organic_social", "Facebook")),
    (1, "?utm_source=m.facebook.com&utm_medium=social", "", TrafficSource("organic_social", "Facebook")),
    (1, "?utm_source=bsky&utm_medium=social", "", TrafficSource("organic_social", "Bluesky")),
    (
        1,
        "?utm_source=share&utm_medium=social",
        "https://www.linkedin.com/feed/",
        TrafficSource("organic_social", "LinkedIn"),
    ),
    # 2 a `source` parameter containing adword/ppc/cpc
    (2, "?source=adwords", "", TrafficSource("paid_search")),
    (2, "?source=PPC&utm_term=crm+software", "", TrafficSource("paid_search", "crm software")),
    # 3 a click id
    (3, "?gclid=Cj0KCQiA", "https://www.google.com/", TrafficSource("paid_search")),
    (3, "?msclkid=9f8e", "https://www.bing.com/search?q=Touchline+CRM", TrafficSource("paid_search", "touchline crm")),
    (3, "?gbraid=0AAAA&utm_term=sequences", "", TrafficSource("paid_search", "sequences")),
    # 4 paid medium and a social source or referrer, or "paidsocial"
    (4, "?utm_source=facebook&utm_medium=cpc", "https://l.facebook.com/", TrafficSource("paid_social", "Facebook")),
    (4, "?utm_source=linkedin&utm_medium=paid", "", TrafficSource("paid_social", "LinkedIn")),
    (4, "?utm_source=partner&utm_medium=ppc", "https://www.instagram.com/", TrafficSource("paid_social", "Instagram")),
    (4, "?utm_source=meta&utm_medium=paid_social", "", TrafficSource("paid_social", "meta")),
    (4, "?utm_source=PaidSocial", "", TrafficSource("paid_social", "PaidSocial")),
    # 5 any utm parameter and a search-engine referrer
    (5, "?utm_campaign=spring", "https://www.google.com/", TrafficSource("paid_search")),
    (5, "?utm_campaign=spring&utm_term=crm", "https://www.google.com/", TrafficSource("paid_search", "crm")),
    (5, "?utm_source=newsletter", "https://duckduckgo.com/?q=touchline", TrafficSource("paid_search", "touchline")),
    # 6 any utm parameter containing adword/ppc/cpc
    (6, "?utm_source=google&utm_medium=cpc&utm_term=crm", "", TrafficSource("paid_search", "crm")),
    (6, "?utm_source=partner&utm_campaign=adwords_retarget", "", TrafficSource("paid_search")),
    # 7 any utm parameter containing "email"
    (7, "?utm_source=newsletter&utm_medium=email", "", TrafficSource("email_marketing", "newsletter", "email")),
    (
        7,
        "?utm_source=hubspot&utm_medium=E-Mail",
        "https://mail.google.com/",
        TrafficSource("email_marketing", "hubspot", "E-Mail"),
    ),
    (7, "?utm_campaign=march_email_blast", "", TrafficSource("email_marketing")),
    # 8 any other utm parameter
    (
        8,
        "?utm_source=partner_site&utm_medium=banner&utm_campaign=launch",
        "https://partner.example.org/post",
        TrafficSource("other_campaigns", "partner_site", "banner"),
    ),
    (8, "?utm_campaign=launch", "", TrafficSource("other_campaigns")),
    (8, "?UTM_SOURCE=Podcast", "", TrafficSource("other_campaigns", "Podcast")),
    # 9 a social referrer
    (9, "", "https://www.facebook.com/", TrafficSource("organic_social", "Facebook")),
    (9, "", "https://t.co/x1y2z3", TrafficSource("organic_social", "Twitter")),
    (9, "?fbclid=IwAR0", "https://l.facebook.com/", TrafficSource("organic_social", "Facebook")),
    (9, "", "android-app://com.reddit.frontpage/", TrafficSource("organic_social", "reddit")),
    # 10 webmail or feed reader
    (10, "", "https://mail.google.com/mail/u/0/", TrafficSource("direct")),
    (10, "", "https://outlook.live.com/", TrafficSource("direct")),
    (10, "", "https://us-mg6.mail.yahoo.com/", TrafficSource("direct")),
    (10, "", "https://feedly.com/i/latest", TrafficSource("direct")),
    (10, "", "android-app://com.google.android.gm/", TrafficSource("direct")),
    # 11 AI assistant
    (11, "", "https://chatgpt.com/", TrafficSource("ai_referrals", "ChatGPT")),
    (11, "", "https://www.perplexity.ai/search/abc", TrafficSource("ai_referrals", "Perplexity")),
    (11, "", "https://x.com/i/grok", TrafficSource("ai_referrals", "Grok")),
    (11, "", "https://gemini.google.com/app", TrafficSource("ai_referrals", "Gemini")),
    # 12 search engine
    (12, "", "https://www.google.co.uk/", TrafficSource("organic_search", "Google")),
    (12, "", "https://www.bing.com/search?q=crm", TrafficSource("organic_search", "Bing", "crm")),
    # 13 own host: no new source
    (13, "", "https://example.com/pricing", None),
    (13, "", "https://WWW.Example.COM/pricing", None),
    (13, "", "https://blog.example.com/post", None),
    # 14 any other referrer
    (14, "", "https://www.partner.org/blog/post?id=3", TrafficSource("referrals", "partner.org", "/blog/post")),
    (14, "", "https://News.Example.NET", TrafficSource("referrals", "news.example.net", "/")),
    # 15 nothing
    (15, "", "", TrafficSource("direct")),
    (15, "?utm_source=", "", TrafficSource("direct")),  # an empty utm parameter is no parameter
]


@pytest.mark.parametrize(
    ("rule", "query", "referrer", "expected"),
    RULE_CASES,
    ids=[f"rule{case[0]}-{i}" for i, case in enumerate(RULE_CASES)],
)
def test_session_source_applies_the_spec_rule_when_its_condition_holds(rule, query, referrer, expected):
    assert source(landing=LANDING + query, referrer=referrer) == expected


def test_rule_cases_cover_every_spec_rule_when_listed():
    assert {case[0] for case in RULE_CASES} == set(range(1, 16))


@pytest.mark.parametrize(
    ("query", "referrer", "expected"),
    [
        # 1 before 5: a social campaign arriving through a search engine is social
        (
            "?utm_source=facebook&utm_medium=social",
            "https://www.google.com/",
            TrafficSource("organic_social", "Facebook"),
        ),
        # 5 before 8: utm parameters with a search referrer are paid search
        ("?utm_source=partner&utm_medium=banner", "https://www.google.com/", TrafficSource("paid_search")),
        # 3 before 7: a click id wins over an email campaign's utm
        ("?gclid=abc&utm_source=newsletter&utm_medium=email", "", TrafficSource("paid_search")),
        # 4 before 6: a paid medium from a social source is paid social, not paid search
        ("?utm_source=twitter&utm_medium=cpc", "", TrafficSource("paid_social", "Twitter")),
        # 7 before 9: an email campaign opened from a social site is email marketing
        (
            "?utm_medium=email&utm_source=digest",
            "https://www.facebook.com/",
            TrafficSource("email_marketing", "digest", "email"),
        ),
        # 8 before 13: a campaign link on the own site starts a campaign session
        ("?utm_campaign=launch", "https://example.com/blog", TrafficSource("other_campaigns")),
        # 9 before 11 unless the AI entry is more specific: x.com is Twitter, x.com/i/grok is Grok
        ("", "https://x.com/home", TrafficSource("organic_social", "Twitter")),
        # 9 before 12: www.facebook.com is also in the search list
        ("", "https://www.facebook.com/search/top?q=crm", TrafficSource("organic_social", "Facebook")),
        # 10 before 12: a webmail on a search engine's domain
        ("", "https://mail.yandex.ru/", TrafficSource("direct")),
        # 11 before 12: chatgpt.com is also in the search list
        ("", "https://chatgpt.com/?q=crm", TrafficSource("ai_referrals", "ChatGPT")),
        # a site in both the AI and the search lists is no search engine for rule 5 either
        ("?utm_source=chatgpt.com", "https://chatgpt.com/", TrafficSource("other_campaigns", "chatgpt.com")),
        # 12 before 13: an own domain never hides a search engine
        ("", "https://www.google.com/", TrafficSource("organic_search", "Google")),
    ],
)
def test_session_source_takes_the_first_matching_rule_when_several_match(query, referrer, expected):
    assert source(landing=LANDING + query, referrer=referrer) == expected


def test_session_source_is_none_when_the_referrer_is_the_landing_pages_own_host():
    """The landing page's host is always an own host, even when own_hosts forgets it."""
    assert source(landing="https://shop.example.org/a", referrer="https://shop.example.org/b", own_hosts=()) is None


@pytest.mark.parametrize("own", ["example.com", "www.example.com", "EXAMPLE.COM.", "https://example.com:8443/path"])
def test_session_source_is_none_when_own_hosts_are_written_in_any_form(own):
    assert source(landing="/x", referrer="https://www.example.com/", own_hosts=[own]) is None


GARBAGE = [
    "",
    "   ",
    "about:blank",
    "null",
    "undefined",
    "http://",
    "https://",
    "http://[::1",
    "https://exa mple.com/",
    "javascript:alert(1)",
    "http://%zz/",
    "\x00\x01",
    "/relative/path?utm_source=",
    "ht!tp://###",
    "https://" + "a" * 5000,
    "https://example.com/?%zz=%E0%A4&utm_source=%ff",
]


@pytest.mark.parametrize("text", GARBAGE)
def test_session_source_never_raises_when_the_landing_url_or_referrer_is_garbage(text):
    as_landing = source(landing=text, referrer="")
    assert as_landing is not None and as_landing.kind in SOURCE_KINDS
    as_referrer = source(landing="https://example.com/", referrer=text)
    assert as_referrer is None or as_referrer.kind in ("direct", "referrals")
    assert is_external_referrer(text, OWN) in (True, False)


@pytest.mark.parametrize(
    "referrer", ["", "about:blank", "null", "http://", "https://exa mple.com/", "http://[::1", "javascript:alert(1)"]
)
def test_session_source_is_direct_when_the_referrer_has_no_usable_host(referrer):
    assert source(referrer=referrer) == TrafficSource("direct")


@settings(max_examples=300, deadline=None)
@given(landing=st.text(max_size=200), referrer=st.text(max_size=200), own=st.lists(st.text(max_size=30), max_size=3))
def test_session_source_returns_a_known_kind_or_none_when_given_any_text(landing, referrer, own):
    result = session_source(landing_url=landing, referrer=referrer, own_hosts=own)
    assert result is None or result.kind in SOURCE_KINDS
    assert isinstance(is_external_referrer(referrer, own), bool)


@pytest.mark.parametrize(
    ("referrer", "external"),
    [
        ("https://www.google.com/", True),
        ("https://partner.org/x", True),
        ("https://mail.google.com/", True),
        ("https://example.com/pricing", False),
        ("https://WWW.EXAMPLE.COM/", False),
        ("https://blog.example.com/", False),
        ("https://notexample.com/", True),
        ("", False),
        ("about:blank", False),
        ("http://[::1", False),
    ],
)
def test_is_external_referrer_tells_own_hosts_apart_when_given_a_referrer(referrer, external):
    assert is_external_referrer(referrer, OWN) is external


def test_source_kinds_are_the_spec_identifiers_when_listed():
    assert SOURCE_KINDS == (
        "organic_search",
        "paid_search",
        "organic_social",
        "paid_social",
        "email_marketing",
        "referrals",
        "other_campaigns",
        "direct",
        "ai_referrals",
        "offline",
    )
    assert set(SOURCE_LABELS) == set(SOURCE_KINDS)
    assert SOURCE_LABELS["organic_search"] == "Organic search"


def test_traffic_source_has_the_pinned_shape_when_built():
    assert [f.name for f in fields(TrafficSource)] == ["kind", "detail", "subdetail"]
    assert TrafficSource("direct") == TrafficSource("direct", "", "")
    with pytest.raises(AttributeError):
        TrafficSource("direct").kind = "referrals"  # frozen
