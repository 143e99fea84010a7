"""Great Expectations Data Docs that render offline (vendored assets, CDN links rewritten) and show no personal data."""

from __future__ import annotations

import logging
import os
import posixpath
import re
import shutil
from importlib import resources
from typing import TYPE_CHECKING

from apache_beam.io.filesystems import FileSystems

from transforms.services import layout, storage

if TYPE_CHECKING:
    from great_expectations.data_context import FileDataContext

log = logging.getLogger(__name__)

SITE = "veil"
"""The Data Docs site Veil adds to its Great Expectations project (built in the project's data_docs/ folder)."""
VENDOR = "static/vendor"
"""Where, inside a built site, the vendored assets of transforms/services/data_docs_assets are copied."""
GX_LOGO = "static/images/logo-long.png"
"""Great Expectations' own copy of its logo in every built site, shown instead of the one it links on S3."""
GX_IMAGES = "static/images"
GX_IMAGE_HOST = "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/"
PERSONAL_COLUMNS = frozenset({"session_id", "consent_id", "account_id"})
"""Columns whose values lead to a person: the Data Docs sit beside the run report, so, like it, never show them."""
UNEXPECTED_VALUES = (
    "partial_unexpected_list",
    "partial_unexpected_counts",
    "partial_unexpected_index_list",
    "unexpected_list",
    "unexpected_index_list",
    "unexpected_index_query",
)
"""What a GX result holds of the failing rows' values; their keys are in validation_failures instead."""
GX_SITES = ("https://greatexpectations.io", "https://docs.greatexpectations.io")
"""Links to Great Expectations' website and documentation: navigation, not content, so unlinked offline."""

CDN: dict[str, str] = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": "bootstrap-4.3.1/css/bootstrap.min.css",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "bootstrap-4.3.1/js/bootstrap.min.js",
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery-3.7.1/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": "popper.js-1.12.9/popper.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": "bootstrap-table-1.19.1/bootstrap-table.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": "bootstrap-table-1.19.1/bootstrap-table.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js": "bootstrap-table-1.19.1/extensions/filter-control/bootstrap-table-filter-control.min.js",
    # The pages link 1.19.0's filter-control style sheet beside the 1.19.1 table; 1.19.1's serves both.
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css": "bootstrap-table-1.19.1/extensions/filter-control/bootstrap-table-filter-control.min.css",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css": "bootstrap-table-1.19.1/extensions/filter-control/bootstrap-table-filter-control.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css": "bootstrap-datepicker-1.9.0/css/bootstrap-datepicker.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js": "bootstrap-datepicker-1.9.0/js/bootstrap-datepicker.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": "fontawesome-free-6.6.0/css/all.min.css",
    "https://cdn.jsdelivr.net/npm/vega@5": "vega-5.33.1/vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "vega-lite-5.23.0/vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "vega-embed-6.29.0/vega-embed.min.js",
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css": "bootstrap-dark-1.1.0/bootstrap-prefers-dark.min.css",
}
"""Every CDN address the Data Docs of great-expectations 1.24 load, and the vendored file that replaces it."""

ATTRIBUTE = re.compile(r"""\s(src|href)\s*=\s*(["'])(https?://[^"']*)\2""", re.IGNORECASE)
CSS_URL = re.compile(r"""url\(\s*(["']?)(https?://[^"')\s]*)\1\s*\)""", re.IGNORECASE)
# GX's own relative links into static/; on validation pages its favicon link climbs 3 folders where they lie 5 deep.
STATIC_LINK = re.compile(r"""(["'(])(?:\./|(?:\.\./)+)static/""")
# Subresource integrity and CORS mode make Chromium refuse a script loaded from file:// (origin "null").
BODY = re.compile(r"<body[^>]*>", re.IGNORECASE)
CROSS_ORIGIN = re.compile(r"""\s(?:integrity|crossorigin)\s*=\s*(["'])[^"']*\1""", re.IGNORECASE)


def _site_config() -> dict:
    """The Data Docs site Veil builds: no how-to buttons (they link the GX documentation), in data_docs/."""
    return {
        "class_name": "SiteBuilder",
        "show_how_to_buttons": False,
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": "data_docs/"},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    }


HISTORY_RUNS = 30
"""Runs the output root's Data Docs show, the latest validated: a site of every run would grow without end, and
GX renders every page again at each build. Each run's own results stay in its report folder (reports/<run>/gx/)."""


def build(context: FileDataContext) -> str:
    """Build the Data Docs of a file-mode Great Expectations project and make them offline; returns their folder."""
    prepare_results(context)
    context.add_data_docs_site(SITE, _site_config())
    context.build_data_docs(site_names=[SITE])
    site = os.path.join(context.root_directory, "data_docs")
    for address in make_offline(site):
        log.warning("Data Docs: %s is not vendored in transforms/services/data_docs_assets; unlinked", address)
    _link_run_reports(site)
    return site


def drop_results(context: FileDataContext, tables: list[str]) -> None:
    """Remove the stored results of the named tables' suites (veil.<table>): a table a run did not write passes
    every expectation on no rows, and its page would show that as a success."""
    store = context.validation_results_store
    for key in store.list_keys():
        if key.expectation_suite_identifier.name.rsplit(".", 1)[-1] in tables:
            store.remove_key(key)


def add_history(context: FileDataContext, output: str, run_id: str) -> None:
    """Copy into the project the stored results of the other runs under ``output`` (the latest HISTORY_RUNS), so the
    site built from it covers the output root, not one run."""
    found: dict[str, list[tuple[str, str]]] = {}
    for match in FileSystems.match([layout.gx_results(output)])[0].metadata_list:
        suite, table, run, moment, name = match.path.split("/")[-5:]
        if run != run_id:
            found.setdefault(run, []).append((moment, match.path, f"{suite}/{table}/{run}/{moment}/{name}"))
    latest = sorted(found, key=lambda run: max(moment for moment, _, _ in found[run]))[-HISTORY_RUNS:]
    store = os.path.join(context.root_directory, "uncommitted", "validations")
    for run in latest:
        for _, uri, relative in found[run]:
            target = os.path.join(store, *relative.split("/"))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with FileSystems.open(uri) as source, open(target, "wb") as handle:
                shutil.copyfileobj(source, handle)


def _link_run_reports(site: str) -> None:
    """Give every validation page a link to its run's report, and the index one to each run's report; the site lies
    at OUTPUT/data_docs/, a run's report at OUTPUT/reports/<run_id>/report.html."""
    runs = set()
    for path in _pages(site):
        relative = _relative(path, site).split("/")
        if relative[0] != "validations" or not path.endswith(".html"):
            continue
        run = relative[3]
        runs.add(run)
        back = "/".join([".."] * len(relative)) + f"/reports/{run}/{layout.REPORT_PAGE}"
        _insert_after_body(path, f'<p class="alert alert-info m-2"><a href="{back}">Run report of {run}</a></p>')
    links = " ".join(f'<a href="../reports/{run}/{layout.REPORT_PAGE}">{run}</a>' for run in sorted(runs))
    _insert_after_body(os.path.join(site, "index.html"), f'<p class="alert alert-info m-2">Run reports: {links}</p>')


def _insert_after_body(path: str, markup: str) -> None:
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(BODY.sub(lambda match: match[0] + markup, text, count=1))


def prepare_results(context: FileDataContext) -> None:
    """Name each result's data asset (GX shows "Data asset: None" for a dataframe asset) and drop the failing rows'
    values from the results of every expectation on a personal column."""
    store = context.validation_results_store
    for key in store.list_keys():
        result = store.get(key)
        result.meta.setdefault("batch_spec", {})["data_asset_name"] = result.meta.get(
            "active_batch_definition", {}
        ).get("data_asset_name")
        for check in result.results:
            kwargs = check.expectation_config.kwargs
            named = {kwargs.get(k) for k in ("column", "column_A", "column_B")} | set(kwargs.get("column_list") or ())
            if named & PERSONAL_COLUMNS:
                for field in UNEXPECTED_VALUES:
                    check.result.pop(field, None)
        store.set(key, result)


def make_offline(site: str) -> list[str]:
    """Copy the vendored assets into a built site, point its pages and style sheets at them, and drop GX images
    nothing shows; returns the addresses with no local copy that were unlinked (GX's own website left aside)."""
    shutil.copytree(str(resources.files("transforms.services") / "data_docs_assets"), os.path.join(site, VENDOR))
    unlinked: list[str] = []
    texts = []
    for path in _pages(site):
        with open(path, encoding="utf-8") as handle:
            text = _rewrite(handle.read(), _relative(site, os.path.dirname(path)), unlinked)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        texts.append(text)
    # GX copies 3.4 MB of images (animated tutorials) into every site: keep those a page or style sheet names.
    shown = "\n".join(texts)
    images = os.path.join(site, *GX_IMAGES.split("/"))
    for name in os.listdir(images):
        if name not in shown:
            os.remove(os.path.join(images, name))
    return sorted(set(unlinked))


def _pages(site: str) -> list[str]:
    """The HTML pages and style sheets GX wrote (vendored files are upstream's, byte for byte)."""
    vendor = os.path.join(site, *VENDOR.split("/"))
    return [
        os.path.join(folder, name)
        for folder, _, names in os.walk(site)
        if not storage.contains(vendor, folder)
        for name in names
        if name.endswith((".html", ".css"))
    ]


def _relative(path: str, start: str) -> str:
    """``path`` relative to ``start``, with forward slashes as in a URL."""
    return os.path.relpath(path, start).replace(os.sep, "/")


def _rewrite(text: str, to_root: str, unlinked: list[str]) -> str:
    """A page or style sheet with each absolute address swapped for its local copy, or unlinked when none, and
    each link into static/ climbing as many folders as the page lies deep."""

    def local(address: str) -> str | None:
        bare = address.split("#")[0].split("?")[0]
        target = (
            posixpath.join(VENDOR, CDN[bare]) if bare in CDN else GX_LOGO if bare.startswith(GX_IMAGE_HOST) else None
        )
        if target is None and not bare.startswith(GX_SITES):
            unlinked.append(bare)
        return None if target is None else posixpath.normpath(posixpath.join(to_root, target))

    def attribute(match: re.Match) -> str:
        target = local(match[3])
        return "" if target is None else f' {match[1]}="{target}"'

    def css_url(match: re.Match) -> str:
        target = local(match[2])
        return "none" if target is None else f'url("{target}")'

    text = STATIC_LINK.sub(lambda match: f"{match[1]}{posixpath.join(to_root, 'static')}/", text)
    return CSS_URL.sub(css_url, CROSS_ORIGIN.sub("", ATTRIBUTE.sub(attribute, text)))


def publish(site: str, uri: str, skip: tuple[str, ...] = ()) -> None:
    """Replace the folder at ``uri`` with a local one (a built site, or the GX project less ``skip``ped top-level
    folders), each file atomically and index.html last, so a reader who finds the index finds every page it links."""
    files = sorted(
        (
            rel
            for rel in (
                _relative(os.path.join(folder, name), site) for folder, _, names in os.walk(site) for name in names
            )
            if rel.split("/")[0] not in skip
        ),
        key=lambda rel: (rel == "index.html", rel),
    )
    # Pages of an earlier validation of the same run carry other timestamps in their paths: no stale page stays.
    storage.delete_path(uri)
    for rel in files:
        storage.publish_file(os.path.join(site, *rel.split("/")), storage.join(uri, *rel.split("/")))
