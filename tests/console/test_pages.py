"""The console page and ``/docs`` are served from the package: nothing from another host."""

from __future__ import annotations

import re

import httpx

from tests.apps import Api

# Where an HTML page names what it loads: src/href attributes, and Swagger UI's ``url:``.
REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)|url:\s*'([^']+)'""")


async def references(http: httpx.AsyncClient, page: str) -> list[str]:
    response = await http.get(page)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    return [a or b for a, b in REFERENCE.findall(response.text)]


async def test_docs_load_swagger_ui_from_this_service_only(api: Api) -> None:
    found = await references(api.http, "/docs")
    assert len(found) >= 3  # the script, the stylesheet, the favicon (and the schema)
    for ref in found:
        assert ref.startswith("/") and not ref.startswith("//"), ref
        assert (await api.http.get(ref)).status_code == 200, ref
    assert (await api.http.get("/redoc")).status_code == 404  # no local ReDoc: off


async def test_the_console_page_and_its_assets_come_from_the_package(api: Api) -> None:
    redirect = await api.http.get("/console")
    assert redirect.is_redirect and redirect.headers["location"].endswith("/console/")
    found = await references(api.http, "/console/")
    assert sorted(found) == ["console.css", "console.js"]
    for ref in found:
        asset = await api.http.get(f"/console/{ref}")
        assert asset.status_code == 200
        assert "http:" not in asset.text and "https:" not in asset.text, ref
