"""Comments with @mentions in a real browser: the suggestion script (served by the app, run
under the CSP nonce, loaded with the 360 page and serving the tab that arrives later), the
chosen colleague written into the text, the posted comment with its highlighted mention, and
the author's warning when the colleague cannot see the record.
"""
from __future__ import annotations

import uuid

from tests.browser.steps import sign_in


def test_a_relationship_manager_mentions_colleagues_in_comments(page, live_server, world, shoot):
    errors = []
    page.on("console", lambda message: errors.append(message.text)
            if message.type == "error" else None)
    sign_in(page, live_server, "rm1")
    page.goto(f"{live_server}/customers/show/{world.customers['c_rm1']}")
    page.click("#tab-link-comments")
    box = page.locator("#tab-comments textarea[name=body]")
    box.wait_for()
    box.click()
    page.keyboard.type("请 @bm")
    menu = page.locator(".crm-mention-menu")
    menu.wait_for()
    assert "测试bm1 (bm1)" in menu.inner_text()
    shoot("01-mention-suggestions")
    menu.locator("a", has_text="(bm1)").click()
    assert box.input_value() == "请 @测试bm1 "
    assert page.locator("#tab-comments input[name=mention_ids]").get_attribute("value") == \
        str(world.staff["bm1"])
    text = f"周五前回电 {uuid.uuid4().hex[:8]}"
    page.keyboard.type(text)
    with page.expect_navigation():
        page.locator("#tab-comments button[type=submit]").last.click()
    comment = page.locator("#tab-comments .crm-comment", has_text=text)
    comment.wait_for()
    assert comment.locator(".crm-mention").inner_text() == "@测试bm1"
    assert page.locator(".alert-warning", has_text="测试bm1").count() == 0  # bm1 sees B1
    shoot("02-comment-posted")

    # On the customer's task, a colleague of another branch: told only that they were named.
    page.goto(f"{live_server}/followups/show/{world.follow_ups['c_rm1']}")
    box = page.locator("#comments textarea[name=body]")
    box.click()
    page.keyboard.type("@测试rm3 ")
    box.type(f"请协助 {uuid.uuid4().hex[:8]}")
    with page.expect_navigation():
        page.locator("#comment-add-form button[type=submit]").click()
    warning = page.locator(".alert-warning", has_text="测试rm3")
    warning.wait_for()
    shoot("03-hidden-mention-warning")
    assert not [e for e in errors if "Content Security Policy" in e], errors
