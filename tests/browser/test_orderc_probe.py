from backoffice.extensions import db
from models.notifications import Notification
from tests.browser.steps import sign_in
from tests.browser.test_search_box import menu_rows, overlapping_items

BOXES = """() => Array.from(document.querySelectorAll(
    '#crm-navbar .navbar-brand, #crm-navbar .crm-menu > li, #crm-search, '
    + '#crm-navbar .crm-navbar-right > li')).filter(e => e.offsetParent !== null)
    .map(e => [Math.round(e.getBoundingClientRect().left), Math.round(e.getBoundingClientRect().right), e.textContent.trim().slice(0, 20)])"""


def test_probe(page, live_server, world, app):
    sign_in(page, live_server, "bm1")
    page.goto(f"{live_server}/lang/en")
    page.goto(f"{live_server}/")
    print("WIDTH", page.evaluate("() => window.innerWidth"), menu_rows(page), overlapping_items(page))
    for b in page.evaluate(BOXES):
        print(b)
    with app.app_context():
        for n in range(120):
            db.session.add(Notification(recipient_id=world.staff["bm1"], kind="mention", message="x"))
        db.session.commit()
    page.goto(f"{live_server}/")
    print("AFTER", menu_rows(page), overlapping_items(page))
    for b in page.evaluate(BOXES):
        print(b)
    with app.app_context():
        db.session.query(Notification).filter(Notification.message == "x").delete()
        db.session.commit()
    page.goto(f"{live_server}/lang/zh")
