"""Data Docs come from a file-mode GX project that stays off the network, and they and the run report render
styled in a real browser with the network cut off."""

import hashlib
import json
import os
import pathlib
import re
import shutil
import socket

import pytest
import yaml

from pipelines import validate
from schemas import tables
from transforms.services import data_docs, layout, validation
from transforms.services.table_files import read_table, write_table
from transforms.services.validation import file_context, validate_run

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium dials Google's hosts at start, which this closed network refuses.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND",
]
REMOTE_LINK = re.compile(r"""(?:\s(?:src|href)\s*=\s*["']?|url\(\s*["']?)(?:https?:)?//""", re.IGNORECASE)
LOCAL_LINK = re.compile(r"""\s(?:src|href)\s*=\s*["']([^"'#]+)["']""", re.IGNORECASE)
BOOTSTRAP_FONTS = '-apple-system, BlinkMacSystemFont, "Segoe UI"'


WRITTEN = [t for t in tables.VALIDATED if t in tables.ANONYMIZE_TABLES]
"""The validated tables an anonymize run writes (not retention_plan or stream_windows)."""


def _docs(validated_run) -> pathlib.Path:
    return pathlib.Path(validated_run["output"], "data_docs")


def _pages(docs: pathlib.Path) -> list[pathlib.Path]:
    vendor = docs / data_docs.VENDOR
    return [p for p in docs.rglob("*") if p.suffix in (".html", ".css") and vendor not in p.parents]


@pytest.mark.slow
def test_validation_uses_a_file_context_with_analytics_off_and_never_touches_the_network(sample_run, monkeypatch):
    (run,) = sample_run["rows"]["runs"]
    suites = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (ROOT / "schemas/expectations").iterdir()}
    dialled = []

    def refuse(*args, **kwargs):
        dialled.append(args)
        raise OSError("network is off in this test")

    for name in ("connect", "connect_ex"):
        monkeypatch.setattr(socket.socket, name, refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    with file_context() as context:
        outcomes = validate_run(context, sample_run["output"], run["run_id"])
        site = data_docs.build(context)
        with open(os.path.join(context.root_directory, "great_expectations.yml")) as handle:
            config = yaml.safe_load(handle)
        assert type(context).__name__ == "FileDataContext"
        assert os.path.exists(os.path.join(site, "index.html"))
    assert config["analytics_enabled"] is False
    assert outcomes and all(o.success for o in outcomes)
    assert dialled == []
    assert suites == {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (ROOT / "schemas/expectations").iterdir()
    }, "GX rewrote a suite"
    assert not os.path.exists(context.root_directory), "the GX project outlived its validation"


@pytest.mark.slow
def test_one_data_docs_site_for_the_output_root_shows_the_tables_a_run_wrote_and_links_its_report(validated_run):
    docs, run_id = _docs(validated_run), validated_run["run_id"]
    assert (docs / "index.html").is_file()
    for table in tables.VALIDATED:
        pages = list(docs.glob(f"validations/veil/{table}/{run_id}/*/veil-{table}.html"))
        assert len(pages) == (table in WRITTEN), f"{table}: a table the run did not write is not shown passing"
    report_folder = pathlib.Path(validated_run["output"], "reports", run_id)
    summary = json.loads((report_folder / "validation.json").read_text())
    assert summary["not_written"] == [t for t in tables.VALIDATED if t not in WRITTEN]
    assert validated_run["report"]["data_docs"] == "../../data_docs/index.html"
    assert 'href="../../data_docs/index.html"' in (report_folder / "report.html").read_text()
    (media,) = docs.glob(f"validations/veil/media/{run_id}/*/veil-media.html")
    text = media.read_text()
    assert "Data asset: media" in " ".join(re.sub(r"<[^>]+>", " ", text).split())
    (link,) = re.findall(rf'href="([^"]*)">Run report of {run_id}<', text)
    assert (media.parent / link).resolve() == (report_folder / "report.html").resolve()
    shown = validate.describe(validated_run["outcomes"], validated_run["output"], run_id)
    assert f"data docs: {docs / 'index.html'}" in shown


@pytest.mark.slow
def test_no_generated_page_links_the_network_and_every_local_link_resolves(validated_run):
    docs = _docs(validated_run)
    pages = _pages(docs)
    assert len(pages) > 10
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert not REMOTE_LINK.search(text), f"{page.relative_to(docs)}: {REMOTE_LINK.search(text)[0]}"
        for link in LOCAL_LINK.findall(text):
            assert (page.parent / link.split("?")[0]).exists(), f"{page.relative_to(docs)} links missing {link}"
    licences = {p.parent.name for p in (docs / data_docs.VENDOR).rglob("LICENSE*")}
    assert licences == {p.name for p in (docs / data_docs.VENDOR).iterdir() if p.is_dir()}


@pytest.mark.slow
def test_data_docs_never_show_the_values_of_personal_columns(sample_run, tmp_path):
    output = str(tmp_path / "out")
    shutil.copytree(sample_run["output"], output)
    (run,) = sample_run["rows"]["runs"]
    restricted = read_table(output, "restricted", run["run_id"]).to_pylist()
    assert restricted, "the sample keeps no face, so nothing personal could show"
    write_table(restricted * 2, tables.RESTRICTED, layout.table_uri(output, "restricted", run["run_id"]))
    failed = [(o.table, o.expectation) for o in validation.validate(output, run["run_id"]) if not o.success]
    assert failed == [("restricted", "expect_compound_columns_to_be_unique")]
    docs = pathlib.Path(output, "data_docs")
    (page,) = docs.glob("validations/veil/restricted/*/*/veil-restricted.html")
    assert "must be unique together" in page.read_text()
    accounts = {r["account_id"] for r in restricted}
    for path in _pages(docs):
        assert not accounts & set(re.findall(r"[\w-]+", path.read_text())), path
    # Nor the GX project published beside the report, whose results later validations read back for the site.
    results = list(pathlib.Path(output, "reports", run["run_id"], "gx").rglob("*.json"))
    assert results
    for path in results:
        assert not accounts & set(re.findall(r"[\w-]+", path.read_text())), path


def test_addresses_with_no_local_copy_are_unlinked_and_reported_and_static_links_fit_the_depth(tmp_path):
    site = tmp_path / "site"
    (site / "static" / "images").mkdir(parents=True)
    (site / "static" / "images" / "logo-long.png").write_bytes(b"png")
    (site / "static" / "images" / "tutorial.gif").write_bytes(b"gif")
    (site / "deep" / "er").mkdir(parents=True)
    (site / "deep" / "er" / "page.html").write_text(
        '<script src="https://code.jquery.com/jquery-3.7.1.min.js" integrity="sha384-x" crossorigin="anonymous">'
        '</script><script src="https://cdn.example.org/new.js"></script><a href="https://greatexpectations.io">GX</a>'
        '<img src="https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/logo-long.png?d=1">'
        "<style>a { background: url('https://cdn.example.org/x.png') }</style>"
        '<link rel="icon" href="../../../../static/images/logo-long.png">'
    )
    assert data_docs.make_offline(str(site)) == ["https://cdn.example.org/new.js", "https://cdn.example.org/x.png"]
    assert (site / "deep" / "er" / "page.html").read_text() == (
        '<script src="../../static/vendor/jquery-3.7.1/jquery.min.js"></script><script></script><a>GX</a>'
        '<img src="../../static/images/logo-long.png"><style>a { background: none }</style>'
        '<link rel="icon" href="../../static/images/logo-long.png">'
    )
    assert (site / data_docs.VENDOR / "jquery-3.7.1" / "jquery.min.js").is_file()
    assert sorted(os.listdir(site / "static" / "images")) == ["logo-long.png"]


@pytest.fixture(scope="module")
def offline_browser():
    """Debian's Chromium under Playwright, in a context with the network cut off; yields a page opener."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run `make setup`, which installs Debian's chromium package")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        context = browser.new_context(offline=True)
        remote = []
        # Every request leaves through this route: anything not on the local disk is recorded and refused.
        context.route(
            lambda url: not url.startswith("file://"), lambda route: (remote.append(route.request.url), route.abort())
        )

        def open_page(path: pathlib.Path) -> tuple:
            page = context.new_page()
            seen = {"requests": [], "failed": [], "errors": []}
            page.on("request", lambda r: seen["requests"].append(r.url))
            page.on("requestfailed", lambda r: seen["failed"].append(f"{r.url}: {r.failure}"))
            page.on("pageerror", lambda e: seen["errors"].append(str(e)))
            page.on("console", lambda m: seen["errors"].append(m.text) if m.type == "error" else None)
            page.goto(path.as_uri(), wait_until="load")
            page.evaluate("document.fonts.ready.then(() => true)")
            return page, seen

        yield open_page, remote
        browser.close()


def _style(page, selector: str, prop: str) -> str:
    return page.eval_on_selector(selector, f"e => getComputedStyle(e).getPropertyValue('{prop}')")


@pytest.mark.slow
def test_the_run_report_renders_styled_offline_with_the_runs_figures(validated_run, offline_browser, tmp_path):
    open_page, remote = offline_browser
    page, seen = open_page(pathlib.Path(validated_run["output"], "reports", validated_run["run_id"], "report.html"))
    assert (remote, seen["failed"], seen["errors"]) == ([], [], [])
    assert all(url.startswith("file://") for url in seen["requests"])
    assert "system-ui" in _style(page, "body", "font-family")
    assert _style(page, ".verdict", "border-radius") == "6px"
    assert _style(page, "th", "background-color") == "rgb(245, 245, 245)"
    text = page.inner_text("body")
    (run,) = validated_run["rows"]["runs"]
    assert f"Run report {run['run_id']}" in text
    for name in ("inputs", "anonymized", "quarantined (not processed)", "frames"):
        assert re.search(rf"^{re.escape(name)}\s+{run[name.split()[0]]}$", text, re.MULTILINE), name
    assert re.search(rf"^face tracks redacted\s+{run['tracks_redacted']}$", text, re.MULTILINE)
    assert "Passed: 0 expectation(s) did not hold" in text
    # One row per input, with its output; the charts drawn inline, each with a bar per camera or a lane per input.
    for media in validated_run["rows"]["media"]:
        assert media["input_uri"] in text and media["output_uri"] in text
    assert page.locator("svg[aria-label='Face tracks by camera, kept and redacted'] rect").count() >= len(
        {m["camera_id"] for m in validated_run["rows"]["media"]}
    )
    assert page.locator("svg[aria-label='Face tracks along the frames of each input'] rect").count() > len(
        validated_run["rows"]["media"]
    )
    assert re.search(r"Started \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \w+, finished", text), "local times to the second"
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    page.click("text=Data Docs")
    assert page.url == (_docs(validated_run) / "index.html").as_uri()
    page.close()


@pytest.mark.slow
def test_the_data_docs_render_styled_offline_with_the_runs_results(validated_run, offline_browser):
    open_page, remote = offline_browser
    docs = _docs(validated_run)
    page, seen = open_page(docs / "index.html")
    assert (remote, seen["failed"], seen["errors"]) == ([], [], [])
    assert all(url.startswith("file://") for url in seen["requests"])
    assert any(url.endswith("/fa-solid-900.woff2") for url in seen["requests"]), "the icon font was not loaded"
    assert _style(page, "body", "font-family").startswith(BOOTSTRAP_FONTS)
    assert _style(page, ".navbar", "position") == "sticky"
    assert page.evaluate("document.fonts.check('900 16px \"Font Awesome 6 Free\"')")
    assert page.evaluate("typeof jQuery.fn.bootstrapTable === 'function' && typeof vegaEmbed === 'function'")
    assert page.locator(".bootstrap-table .filter-control").count() > 0, "bootstrap-table's filters did not render"
    text = page.inner_text("body")
    # A result per table the run wrote, and the run's report linked once at the top.
    assert text.count(validated_run["run_id"]) == len(WRITTEN) + 1
    assert all(f"veil.{t}" in text for t in WRITTEN)
    page.close()

    (runs_page,) = docs.glob(f"validations/veil/runs/{validated_run['run_id']}/*/veil-runs.html")
    page, seen = open_page(runs_page)
    assert (remote, seen["failed"], seen["errors"]) == ([], [], [])
    assert _style(page, ".card-header", "background-color") != "rgba(0, 0, 0, 0)"
    text = page.inner_text("body")
    evaluated = sum(o.table == "runs" for o in validated_run["outcomes"])
    assert re.search(rf"Evaluated Expectations\s+{evaluated}\b", text)
    assert re.search(rf"Successful Expectations\s+{evaluated}\b", text)
    assert "Succeeded" in text and validated_run["run_id"] in text
    page.close()


@pytest.mark.slow
def test_the_gx_project_is_kept_under_the_output_root_and_reopens(validated_run):
    import great_expectations as gx

    project = os.path.join(validated_run["output"], "reports", validated_run["run_id"], "gx")
    with open(os.path.join(project, "great_expectations.yml")) as handle:
        assert yaml.safe_load(handle)["analytics_enabled"] is False
    context = gx.get_context(mode="file", project_root_dir=os.path.dirname(project))
    assert {s.name for s in context.suites.all()} == {f"veil.{t}" for t in tables.VALIDATED}
    assert not os.path.exists(os.path.join(project, "data_docs")), "the site is published once, beside it"
