"""axe-core on every page and panel a person sees, with JavaScript on and off; then what axe cannot see: focus."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import update

from app.extensions import db
from app.models import User
from app.two_factor.models import TwoFactorBackupCode, TwoFactorSecret
from app.two_factor.throttle import LOCK_AFTER
from tests.browser.conftest import DESKTOP
from tests.browser.steps import (
    answer_challenge,
    answer_until_throttled,
    confirm_saved,
    enabled_user,
    log_in,
    log_out,
    next_code,
    register,
    start_setup,
    submit_setup_code,
    turn_on,
    walk_to_2fa_on,
    wrong_code,
)
from tests.browser.support import ErrorGuard, LiveServer, wait_until_settled
from tests.browser.test_pages import PHONE
from tests.support import PASSWORD

pytestmark = pytest.mark.browser

AXE_OPTIONS: dict[str, Any] = {
    # WCAG 2.0, 2.1 and 2.2 A and AA, and Deque's best practices (quiet on these pages, so kept).
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]},
    "resultTypes": ["violations", "incomplete"],
    # Preloading fetches stylesheets and media for rules these tags do not run (CSS orientation lock, autoplay),
    # and it never finishes in a page whose scripts are disabled.
    "preload": False,
}
# Fragment parsing follows the document's scripting flag: <noscript> content becomes elements only without it.
SCRIPTING = """() => {
  const probe = document.createElement("div");
  probe.innerHTML = "<noscript><i></i></noscript>";
  return probe.querySelector("noscript i") === null;
}"""
# Timers never fire in a page whose scripts are disabled (nor does queueMicrotask), but promise callbacks run.
# axe waits only on zero-delay timers; its longer ones are failure timeouts, which need never fire.
TIMERS_AS_PROMISES = """() => {
  const cancelled = new Set();
  let last = 0;
  window.setTimeout = (callback, delay = 0, ...args) => {
    const id = ++last;
    if (delay <= 1) Promise.resolve().then(() => { if (!cancelled.has(id)) callback(...args); });
    return id;
  };
  window.clearTimeout = (id) => cancelled.add(id);
}"""
CONTROLS = """() => {
  const controls = "a[href], button, input:not([type=hidden]), select, textarea, summary";
  const selector = `${controls}, [tabindex]:not([tabindex='-1'])`;
  window.tfControls = Array.from(document.querySelectorAll(selector))
    .filter((control) => !control.disabled && control.checkVisibility({visibilityProperty: true}));
  return window.tfControls.map((control) => control.outerHTML.split(">")[0] + ">");
}"""
FOCUSED_CONTROL = "() => window.tfControls.indexOf(document.activeElement)"
LOOKS: dict[str, dict[str, Any]] = {
    "dark": {"color_scheme": "dark"},
    "phone": {"viewport": PHONE, "is_mobile": True, "has_touch": True},
}


class Audit:
    """Runs axe on each state of one page and keeps every finding, so that one run reports them all."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.axe = Axe()
        self.findings: list[str] = []
        self.states: list[str] = []

    def __call__(self, state: str) -> None:
        wait_until_settled(self.page)
        if not self.page.evaluate(SCRIPTING):
            self.page.evaluate(TIMERS_AS_PROMISES)
        results = self.axe.run(self.page, options=AXE_OPTIONS).response
        self.states.append(state)
        for kind, label in (("violations", "violation"), ("incomplete", "needs review")):
            self.findings.extend(describe_finding(state, label, finding) for finding in results[kind])

    def check(self, *expected_states: str) -> None:
        """Fail with every finding; and make sure the walk really reached each state it meant to."""
        assert self.states == list(expected_states), self.states
        if self.findings:
            pytest.fail(f"axe found {len(self.findings)} problem(s):\n" + "\n".join(self.findings), pytrace=False)


def describe_finding(state: str, label: str, finding: dict[str, Any]) -> str:
    """Return what a developer needs to fix one axe finding: rule, impact, help and every offending element."""
    lines = [f"[{state}] {finding['id']} ({finding['impact']}, {label}): {finding['help']} <{finding['helpUrl']}>"]
    for node in finding["nodes"]:
        summary = " ".join(node.get("failureSummary", "").split())
        lines.append(f"    {' >>> '.join(map(str, node['target']))}: {summary}")
    return "\n".join(lines)


@pytest.fixture(params=sorted(LOOKS))
def styled_page(
    request: pytest.FixtureRequest, browser: Browser, guard: ErrorGuard, server: LiveServer
) -> Iterator[Page]:
    """A JavaScript page in dark mode, or on a phone: other colours, and the activity table as cards."""
    context = guard.watch(browser.new_context(**LOOKS[request.param]))
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


# -- walks through the pages: each calls ``audit`` in every state it reaches ------------------


SETTINGS_STATES = (
    "settings, two-factor off",
    "setup panel: QR code, key and code field",
    "setup panel after a wrong code",
    "backup codes panel",
    "settings, two-factor on, with recent activity",
    "settings with the new-codes and turn-off forms open",
    "turn-off form after a wrong password",
    "home, two-factor on",
)
SIGN_IN_STATES = (
    "register",
    "login",
    "login after a wrong password",
    "challenge: app code",
    "challenge after a wrong code",
    "challenge while throttled",
    "challenge: backup code",
)


def walk_settings(page: Page, server: LiveServer, audit: Audit) -> None:
    """Turn 2FA on through every panel, then open both forms and fail to turn it off."""
    register(page, server, "ada")
    audit(SETTINGS_STATES[0])
    secret = start_setup(page)
    audit(SETTINGS_STATES[1])
    submit_setup_code(page, wrong_code(secret))
    expect(page.locator("#tf-verify-messages").get_by_role("alert")).to_be_visible()
    audit(SETTINGS_STATES[2])
    time.sleep(1.1)  # the throttle's wait after one wrong code
    turn_on(page, secret)
    audit(SETTINGS_STATES[3])
    confirm_saved(page)
    expect(page.locator(".tf-event").first).to_contain_text("Two-factor authentication was turned on.")
    audit(SETTINGS_STATES[4])
    open_account_forms(page)
    audit(SETTINGS_STATES[5])
    page.locator("#disable-password").fill("not the password")
    page.locator("#disable-code").fill(wrong_code(secret))
    page.get_by_role("button", name="Turn off", exact=True).click()
    expect(page.locator("#disable-messages").get_by_role("alert")).to_be_visible()
    audit(SETTINGS_STATES[6])
    page.goto(server("/"))
    audit(SETTINGS_STATES[7])


def walk_sign_in(page: Page, server: LiveServer, audit: Audit) -> None:
    """Register and log-in pages, then every face of the challenge: errors, the wait and backup codes."""
    secret, _ = enabled_user(server, "bea")
    for path, state in (("/register", SIGN_IN_STATES[0]), ("/login", SIGN_IN_STATES[1])):
        page.goto(server(path))
        audit(state)
    log_in(page, server, "bea", "not the password")
    expect(page.locator("#form-messages").get_by_role("alert")).to_be_visible()
    audit(SIGN_IN_STATES[2])
    log_in(page, server, "bea")
    expect(page).to_have_url(server("/2fa/challenge"))
    audit(SIGN_IN_STATES[3])
    alert = page.locator("#tf-code-messages").get_by_role("alert")
    answer_challenge(page, wrong_code(secret))
    expect(alert).to_contain_text("That code didn't work.")
    audit(SIGN_IN_STATES[4])
    answer_until_throttled(page, server, secret)
    expect(alert).to_contain_text("Too many attempts.")
    audit(SIGN_IN_STATES[5])
    page.get_by_role("link", name="Lost your phone? Use a backup code").click()
    expect(page.get_by_label("Backup code", exact=True)).to_be_visible()
    audit(SIGN_IN_STATES[6])


def open_account_forms(page: Page) -> None:
    """Open the two forms that ask for password and code."""
    page.get_by_text("Make new backup codes").click()
    page.get_by_text("Turn off two-factor authentication").click()
    expect(page.locator("#disable-password")).to_be_visible()


def sign_in_with_two_factor(page: Page, server: LiveServer, username: str) -> None:
    """Create a user with 2FA on and sign in as them in the browser."""
    secret, _ = enabled_user(server, username)
    log_in(page, server, username)
    answer_challenge(page, next_code(secret))
    expect(page).to_have_url(server("/"))


def wear_out(server: LiveServer, username: str, used_codes: int, failures: int) -> None:
    """Spend backup codes and count failed attempts straight in the database: quicker than typing them."""
    with server.app.app_context():
        user_id = db.session.scalar(db.select(User.id).filter_by(username=username))
        code_ids = db.session.scalars(db.select(TwoFactorBackupCode.id).filter_by(user_id=user_id).limit(used_codes))
        db.session.execute(
            update(TwoFactorBackupCode)
            .where(TwoFactorBackupCode.id.in_(list(code_ids)))
            .values(used_at=datetime.now(UTC))
        )
        db.session.execute(update(TwoFactorSecret).filter_by(user_id=user_id).values(failed_attempts=failures))
        db.session.commit()


# -- axe ----------------------------------------------------------------------------------------


def test_every_settings_panel_passes_axe(any_page: Page, server: LiveServer, guard: ErrorGuard) -> None:
    guard.expect_status(400)
    audit = Audit(any_page)
    walk_settings(any_page, server, audit)
    audit.check(*SETTINGS_STATES)


def test_every_sign_in_page_passes_axe(any_page: Page, server: LiveServer, guard: ErrorGuard) -> None:
    guard.expect_status(401, 429)
    audit = Audit(any_page)
    walk_sign_in(any_page, server, audit)
    audit.check(*SIGN_IN_STATES)


def test_dark_mode_and_phones_pass_axe(styled_page: Page, server: LiveServer, guard: ErrorGuard) -> None:
    guard.expect_status(400, 401, 429)
    audit = Audit(styled_page)
    walk_settings(styled_page, server, audit)
    log_out(styled_page, server)
    walk_sign_in(styled_page, server, audit)
    audit.check(*SETTINGS_STATES, *SIGN_IN_STATES)


def test_a_locked_account_with_few_codes_left_passes_axe(any_page: Page, server: LiveServer) -> None:
    sign_in_with_two_factor(any_page, server, "cleo")
    wear_out(server, "cleo", used_codes=8, failures=LOCK_AFTER)
    any_page.goto(server("/2fa/settings"))
    expect(any_page.locator("#tf-status")).to_contain_text("Make new ones soon.")
    expect(any_page.locator("#tf-status")).to_contain_text("locked")
    audit = Audit(any_page)
    audit("settings, locked, 2 backup codes left")
    audit.check("settings, locked, 2 backup codes left")


def test_the_sessions_panel_passes_axe(any_page: Page, browser: Browser, server: LiveServer, guard: ErrorGuard) -> None:
    register(any_page, server, "mira")
    other = guard.watch(browser.new_context())
    log_in(other.new_page(), server, "mira")
    any_page.reload()
    audit = Audit(any_page)
    audit("sessions panel with another browser")
    any_page.locator("#tf-sessions").get_by_role("button", name=re.compile(r"^Sign out (?!everywhere)")).click()
    expect(any_page.locator("#tf-sessions-messages")).to_have_text("That session is signed out.")
    audit("sessions panel after signing the other browser out")
    other.close()
    audit.check("sessions panel with another browser", "sessions panel after signing the other browser out")


# The pending login's age is counted from a whole second, so a 1-s TTL could end before the page loads.
@pytest.mark.parametrize("server_overrides", [{"TWO_FACTOR_CHALLENGE_TTL": 2}])
def test_an_expired_sign_in_passes_axe(any_page: Page, server: LiveServer, guard: ErrorGuard) -> None:
    guard.expect_status(401)
    secret, _ = enabled_user(server, "dora")
    log_in(any_page, server, "dora")
    time.sleep(2.2)
    answer_challenge(any_page, next_code(secret))
    expect(any_page.get_by_role("link", name="Sign in again")).to_be_visible()
    audit = Audit(any_page)
    audit("challenge after the sign-in expired")
    audit.check("challenge after the sign-in expired")


def test_error_pages_pass_axe(any_page: Page, server: LiveServer, guard: ErrorGuard) -> None:
    guard.expect_status(400, 503)
    audit = Audit(any_page)
    any_page.goto(server("/login"))
    any_page.get_by_label("Name").fill("edda")
    any_page.get_by_label("Password").fill(PASSWORD)
    any_page.locator("input[name=csrf_token]").evaluate("(input) => { input.value = 'spoiled'; }")
    any_page.get_by_role("button", name="Log in").click()
    expect(any_page.get_by_role("heading", name="Request refused")).to_be_visible()
    audit("refused: the form's security token is wrong")
    register(any_page, server, "edda")
    with server.app.app_context():
        User.__table__.drop(db.engine)  # the database fails: the app answers 503, closed
    any_page.goto(server("/2fa/settings"))
    expect(any_page.get_by_role("heading", name="Temporarily unavailable")).to_be_visible()
    audit("503: the database is down")
    audit.check("refused: the form's security token is wrong", "503: the database is down")


def test_a_failure_said_in_the_panel_passes_axe(page: Page, server: LiveServer, guard: ErrorGuard) -> None:
    """With JavaScript, a 5xx to an htmx request is said in the panel's live region."""
    guard.expect_status(503)
    register(page, server, "fern")
    page.wait_for_function("() => window.htmx !== undefined")  # a click before htmx loads would post the form
    page.route(server("/2fa/setup"), lambda route: route.fulfill(status=503, body="unavailable"))
    page.get_by_role("button", name="Set up two-factor authentication").click()
    expect(page.locator("#tf-status").get_by_role("alert")).to_contain_text("nothing was changed")
    audit = Audit(page)
    audit("settings, the server failed")
    audit.check("settings, the server failed")


@pytest.mark.parametrize("server_overrides", [{"TWO_FACTOR_BASE_TEMPLATE": "two_factor/_layout.html"}])
def test_the_standalone_layout_passes_axe(
    any_page: Page, server: LiveServer, guard: ErrorGuard, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The layout the extension brings for hosts without a base.html; here with 2FA required of everyone."""
    monkeypatch.setattr(server.app.extensions["two_factor"], "required", lambda user: True)
    audit = Audit(any_page)
    register(any_page, server, "gail")
    expect(any_page.locator(".tf-required")).to_be_visible()
    audit("standalone settings, two-factor required")
    start_setup(any_page)
    audit("standalone setup panel")
    any_page.context.clear_cookies()
    enabled_user(server, "hope")
    log_in(any_page, server, "hope")
    expect(any_page).to_have_url(server("/2fa/challenge"))
    audit("standalone challenge")
    audit.check("standalone settings, two-factor required", "standalone setup panel", "standalone challenge")


# -- in German: longer words, other labels, lang="de" ------------------------------------------

GERMAN_STATES = (
    "register (de)",
    "login (de)",
    "settings, two-factor off (de)",
    "re-authentication (de)",
    "challenge (de)",
    "challenge after a wrong code (de)",
    "settings, two-factor on (de)",
    "page not found (de)",
)


@pytest.fixture(params=["javascript", "no-javascript"])
def german_page(
    request: pytest.FixtureRequest, browser: Browser, guard: ErrorGuard, server: LiveServer
) -> Iterator[Page]:
    """A desktop page of a browser set to German (its Accept-Language says de-DE)."""
    options: dict[str, Any] = {"locale": "de-DE", "java_script_enabled": request.param == "javascript"}
    context = guard.watch(browser.new_context(viewport=DESKTOP, **options))
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def submit_form(page: Page, **fields: str) -> None:
    """Fill fields by id and submit their form: the walk in German goes by ids, not by English labels."""
    for field_id, value in fields.items():
        page.locator(f"#{field_id}").fill(value)
    page.locator(f"#{next(iter(fields))}").press("Enter")


def test_german_pages_pass_axe(german_page: Page, server: LiveServer, guard: ErrorGuard) -> None:
    guard.expect_status(401, 404)
    page, audit = german_page, Audit(german_page)
    html = page.locator("html")
    for path, state in (("/register", GERMAN_STATES[0]), ("/login", GERMAN_STATES[1])):
        page.goto(server(path))
        expect(html).to_have_attribute("lang", "de")
        audit(state)
    page.goto(server("/register"))
    submit_form(page, username="lena", password=PASSWORD)
    expect(page).to_have_url(server("/2fa/settings"))
    expect(page.locator("#tf-status")).to_contain_text("Zwei-Faktor-Authentifizierung einrichten")
    audit(GERMAN_STATES[2])
    page.goto(server("/2fa/reauth"))
    expect(html).to_have_attribute("lang", "de")
    audit(GERMAN_STATES[3])
    page.context.clear_cookies()
    secret, _ = enabled_user(server, "moritz")
    page.goto(server("/login"))
    submit_form(page, username="moritz", password=PASSWORD)
    expect(page).to_have_url(server("/2fa/challenge"))
    expect(page.locator("#tf-challenge .tf-account")).to_contain_text("moritz")
    audit(GERMAN_STATES[4])
    submit_form(page, **{"tf-code": wrong_code(secret)})
    expect(page.locator("#tf-code-messages").get_by_role("alert")).to_be_visible()
    audit(GERMAN_STATES[5])
    time.sleep(1.1)  # the throttle's wait after one wrong code
    submit_form(page, **{"tf-code": next_code(secret)})
    expect(page).to_have_url(server("/"))
    page.goto(server("/2fa/settings"))
    expect(page.locator("#tf-status")).to_contain_text("Sicherungscodes")
    audit(GERMAN_STATES[6])
    page.goto(server("/no-such-page"))
    expect(page.get_by_role("heading", name="Seite nicht gefunden")).to_be_visible()
    audit(GERMAN_STATES[7])
    audit.check(*GERMAN_STATES)


# -- what axe cannot see: where focus goes, and what Tab reaches ------------------------------


def test_focus_moves_to_each_new_panel(page: Page, server: LiveServer, guard: ErrorGuard) -> None:
    """After every htmx swap focus is on the new panel's heading, or on the field to correct."""
    guard.expect_status(400, 401)
    register(page, server, "iona")
    start_setup(page)
    expect(page.get_by_role("heading", name="Set up your authenticator app")).to_be_focused()
    page.get_by_role("button", name="Cancel setup").click()
    expect(page.get_by_role("heading", name="Status: Off")).to_be_focused()
    secret = start_setup(page)
    submit_setup_code(page, wrong_code(secret))
    expect(page.get_by_label("Enter the 6-digit code the app shows")).to_be_focused()
    time.sleep(1.1)  # the throttle's wait after one wrong code
    codes = turn_on(page, secret)
    expect(page.get_by_role("heading", name="Save your backup codes")).to_be_focused()
    confirm_saved(page)
    expect(page.get_by_role("heading", name="Status: On")).to_be_focused()

    page.get_by_text("Make new backup codes").click()
    page.locator("#regenerate-password").fill(PASSWORD)
    page.locator("#regenerate-code").fill(codes[0])
    page.get_by_role("button", name="Make new codes").click()
    expect(page.get_by_role("heading", name="Save your backup codes")).to_be_focused()
    new_codes = page.locator("#tf-code-list code").all_inner_texts()
    confirm_saved(page)
    expect(page.get_by_role("heading", name="Status: On")).to_be_focused()
    page.get_by_text("Turn off two-factor authentication").click()
    page.locator("#disable-password").fill(PASSWORD)
    page.locator("#disable-code").fill(new_codes[0])
    page.get_by_role("button", name="Turn off", exact=True).click()
    expect(page.get_by_role("heading", name="Status: Off")).to_be_focused()

    other_secret, _ = enabled_user(server, "jude")
    log_out(page, server)
    log_in(page, server, "jude")
    answer_challenge(page, wrong_code(other_secret))
    expect(page.get_by_label("6-digit code", exact=True)).to_be_focused()


def assert_tab_reaches_every_control(page: Page) -> None:
    """Tab once round the page: every visible control is reached, in document order."""
    wait_until_settled(page)  # the copy and print buttons appear once the panel has settled
    controls = page.evaluate(CONTROLS)
    assert controls, f"{page.url} has no controls"
    # From wherever focus is (autofocus, a swapped panel) to the first control; the document itself is a stop too.
    for _ in range(len(controls) + 3):
        if tab_to_next(page) == 0:
            break
    reached = [0, *(tab_to_next(page) for _ in controls[1:])]
    in_order = "\n".join(f"  {controls[index]}" if index >= 0 else "  (not a control)" for index in reached)
    missed = "\n".join(f"  {control}" for index, control in enumerate(controls) if index not in reached)
    assert reached == list(range(len(controls))), f"{page.url}: Tab reached\n{in_order}\nand missed\n{missed or '  -'}"


def tab_to_next(page: Page) -> int:
    """Press Tab; return the index of the control that has focus, or -1."""
    page.keyboard.press("Tab")
    return page.evaluate(FOCUSED_CONTROL)


def test_every_control_is_reachable_by_tab(any_page: Page, server: LiveServer) -> None:
    page = any_page
    walk_to_2fa_on(page, server, "kai", assert_tab_reaches_every_control)
    open_account_forms(page)
    assert_tab_reaches_every_control(page)
    page.goto(server("/"))
    assert_tab_reaches_every_control(page)
    log_out(page, server)
    log_in(page, server, "kai")
    expect(page).to_have_url(server("/2fa/challenge"))
    assert_tab_reaches_every_control(page)
    page.get_by_role("link", name="Lost your phone? Use a backup code").click()
    assert_tab_reaches_every_control(page)
