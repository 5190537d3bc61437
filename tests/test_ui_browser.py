"""The Dagster UI in Debian's Chromium, driven by Playwright.

The webserver serves a project instance that already holds one materialized partition of a
generated video; the test opens the asset graph, the ``scene_table`` page with the contact
sheet, and the checks of ``clips``, then materializes a second partition from the UI and
waits for its run to succeed. Screenshots go to ``$VIDEO_ASSETS_TEST_ARTIFACTS`` (default
``test-artifacts/ui/``).
"""

from __future__ import annotations

import re
import shutil
import urllib.parse

import dagster as dg
import pytest

from tests.ui_support import (
    CHROMIUM_ARGS,
    artifacts_dir,
    chromium_executable,
    make_project,
    materialize_first,
    wait_for_partition_run,
    webserver,
)

# Worst case on a busy runner: Chromium from Debian, the webserver's start, the run's 8 min.
pytestmark = [pytest.mark.browser, pytest.mark.timeout(1500)]

# What the UI launches for the second partition: small, so it ends quickly on two busy cores.
LAUNCHED = ("source_video", "iframe_index", "scene_table")
RUN_TIMEOUT_S = 480.0
UI_TIMEOUT_MS = 60_000
SCREENSHOTS = (
    "01_asset_graph.png",
    "02_scene_table_contact_sheet.png",
    "03_clips_checks.png",
    "04_launch_dialog.png",
    "05_run_succeeded.png",
    "06_scene_table_second_partition.png",
    "failure.png",
)


def expand_all_groups(page) -> None:
    """The graph shows groups collapsed when there are many; the graph's settings menu expands them."""
    page.locator("[aria-haspopup=dialog] button:has([role=img][aria-label=settings])").click()
    page.get_by_role("menuitem", name=re.compile("Expand all groups")).click()


def show_contact_sheet(page, video_id: str):
    """Open the contact sheet of ``video_id`` (Markdown metadata behind "[Show Markdown]")
    on the scene_table events page, and return the inline image."""
    row = page.get_by_role("row").filter(has_text="contact_sheet")
    row.get_by_text("Show Markdown").first.click()
    image = page.locator(f"img[alt='scenes of {video_id}'][src^='data:image']")
    image.wait_for(state="visible")
    assert image.evaluate("img => img.complete && img.naturalWidth > 0"), (
        "the contact sheet did not decode"
    )
    return image


def test_ui_graph_contact_sheet_checks_and_launch(tmp_path, monkeypatch):
    from playwright.sync_api import expect, sync_playwright

    chromium = chromium_executable()
    monkeypatch.setenv("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    project = make_project(tmp_path)
    for name, value in project.env().items():
        monkeypatch.setenv(name, value)
    first, second = project.video_ids
    shots = artifacts_dir()
    for name in SCREENSHOTS:  # only this test's own files: the folder may be shared
        (shots / name).unlink(missing_ok=True)
    log = tmp_path / "webserver.log"

    with dg.DagsterInstance.get() as instance:
        result = materialize_first(project, instance)
        assert result.success, f"pre-materializing {first} failed (run {result.run_id})"

        try:
            with webserver(project.env(), log) as server, sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path=chromium, args=CHROMIUM_ARGS, headless=True
                )
                page = browser.new_page(viewport={"width": 1600, "height": 1000})
                page.set_default_timeout(UI_TIMEOUT_MS)
                expect.set_options(timeout=UI_TIMEOUT_MS)
                try:
                    # 1. The asset graph, every group expanded.
                    page.goto(server.url + "/asset-groups")
                    expect(page.get_by_role("button", name="Materialize all…")).to_be_visible()
                    expand_all_groups(page)
                    for key in ("source_video", "scene_table", "clips", "catalog"):
                        expect(
                            page.get_by_text(key, exact=True).filter(visible=True).first
                        ).to_be_visible()
                    page.screenshot(path=shots / "01_asset_graph.png")

                    # 2. scene_table's materialization of the first partition, with its contact sheet.
                    page.goto(f"{server.url}/assets/scene_table?view=events&partition={first}")
                    expect(page.get_by_text(f"Partition {first} materialized")).to_be_visible()
                    show_contact_sheet(page, first)
                    page.screenshot(path=shots / "02_scene_table_contact_sheet.png")

                    # 3. The checks of clips.
                    page.goto(server.url + "/assets/clips?view=checks")
                    expect(page.get_by_text("leaked_frames", exact=True).first).to_be_visible()
                    expect(page.get_by_text("lost_frames", exact=True).first).to_be_visible()
                    expect(page.get_by_text("Passed", exact=True).first).to_be_visible()
                    page.screenshot(path=shots / "03_clips_checks.png")

                    # 4. Materialize the second partition from the UI: the graph filtered to the
                    # first three assets, "Materialize all…", pick the partition, launch.
                    selection = " or ".join(f"key:{k}" for k in LAUNCHED)
                    page.goto(f"{server.url}/asset-groups~{urllib.parse.quote(selection)}/")
                    page.get_by_role("button", name="Materialize all…").click()
                    dialog = page.get_by_role("dialog")
                    expect(
                        dialog.get_by_text(f"materialize {len(LAUNCHED)} assets")
                    ).to_be_visible()
                    dialog.get_by_text("Select a partition or create one").click()
                    page.get_by_placeholder("Filter partitions").fill(second)
                    page.get_by_text(second, exact=True).filter(visible=True).click()
                    expect(page.get_by_role("checkbox", name=second)).to_be_checked()
                    page.keyboard.press("Escape")  # close the partition list, keep the dialog
                    launch = dialog.get_by_role("button", name="Launch 1 run")
                    expect(launch).to_be_enabled()
                    page.screenshot(path=shots / "04_launch_dialog.png")
                    launch.click()
                    expect(launch).to_be_hidden()

                    run = wait_for_partition_run(instance, second, RUN_TIMEOUT_S)
                    assert {k.to_user_string() for k in run.asset_selection or ()} == set(LAUNCHED)
                    page.goto(f"{server.url}/runs/{run.run_id}")
                    expect(page.get_by_text("Success", exact=True).first).to_be_visible()
                    page.screenshot(path=shots / "05_run_succeeded.png")

                    # 5. The second partition's contact sheet, made by that run.
                    page.goto(f"{server.url}/assets/scene_table?view=events&partition={second}")
                    expect(page.get_by_text(f"Partition {second} materialized")).to_be_visible()
                    show_contact_sheet(page, second)
                    page.screenshot(path=shots / "06_scene_table_second_partition.png")
                except BaseException:
                    page.screenshot(path=shots / "failure.png")
                    print(f"webserver log tail:\n{server.log_tail()}")
                    raise
                finally:
                    browser.close()
        finally:
            if log.exists():
                shutil.copyfile(log, shots / "webserver.log")
