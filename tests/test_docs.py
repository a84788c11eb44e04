"""/docs and /redoc work on a network with no way out: every asset they load is the
service's own, and answers with its media type."""

import re
from html.parser import HTMLParser

import pytest

from app.ops.docs import ASSET_TYPES

PAGES = ["/docs", "/redoc"]


class _Links(HTMLParser):
    """Every URL a page loads or links: src and href of any tag."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found += [value for name, value in attrs if name in {"src", "href"} and value]


def urls_in(html: str) -> list[str]:
    links = _Links()
    links.feed(html)
    # What a page's script fetches: Swagger UI's `url: '/openapi.json'`, ReDoc's spec-url.
    quoted = re.findall(r"""(?:url|spec-url)\s*[:=]\s*['"]([^'"]+)['"]""", html)
    return links.found + quoted


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
@pytest.mark.parametrize("page", PAGES)
async def test_a_docs_page_loads_nothing_from_another_origin(client, page):
    response = await client.get(page)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    found = urls_in(response.text)
    assert found, "the page loads its assets"
    assert [url for url in found if not url.startswith("/")] == []
    assert "//" not in "".join(found)  # nor a scheme-relative URL
    for url in found:
        loaded = await client.get(url)
        assert loaded.status_code == 200, url
        if url.startswith("/docs/assets/"):
            assert loaded.headers["content-type"] == ASSET_TYPES[url.rsplit("/", 1)[1]]
            assert len(loaded.content) > 1000, url
        else:
            assert loaded.headers["content-type"] == "application/json", url


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
async def test_an_asset_the_pages_do_not_load_is_not_found(client):
    response = await client.get("/docs/assets/..%2Fcore.py")

    assert response.status_code == 404
