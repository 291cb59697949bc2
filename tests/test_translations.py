"""Languages: both catalogs complete in German and current, no literal left in a template, pages and mail in German."""

from __future__ import annotations

import gettext
import html
import io
import re
import shlex
import subprocess
import zipfile
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask
from jinja2 import Environment

from app import create_app
from app.extensions import db
from app.two_factor import notifications
from tests.conftest import make_config
from tests.support import PASSWORD, Api, FrozenClock, totp_now

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "translations"
LANGUAGE = "de"
GERMAN = {"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"}
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")
# Every template of the product (any templates/ folder in the package, mail included) and of the demo.
TEMPLATES = sorted(
    path
    for path in [*(REPO / "app" / "two_factor").rglob("*"), *(REPO / "templates").rglob("*")]
    if "templates" in path.relative_to(REPO).parts and path.suffix in (".html", ".txt")
)
# Attributes a person reads or hears (a button's value is its label); their values must come from a catalog.
HUMAN_ATTRIBUTES = {"alt", "title", "placeholder", "aria-label", "aria-description", "aria-roledescription", "label"}
BUTTON_INPUTS = {"submit", "button", "reset"}
# Text the page's script shows later (data-text-offline="…", data-pattern-message="…").
HUMAN_DATA = re.compile(r"data-(text-.+|.+-(message|label|text))")
# Literal text that is no word of any language: value -> why it may stay as it is.
ALLOWED_LITERALS = {
    "XXXX-XXXX-XXXX-XXXX-XXXX-XXXX": "the shape of a backup code (placeholder), the same in every language",
}


def catalogs() -> list[tuple[str, Path, str, list[str]]]:
    """Return (domain, directory, mapping file, extract keywords) of each catalog, read from scripts/translations."""
    found = []
    for line in SCRIPT.read_text().splitlines():
        if line.startswith("catalog "):
            _, domain, directory, mapping, *keywords = shlex.split(line)
            found.append((domain, REPO / directory, mapping, keywords))
    assert [domain for domain, *_ in found] == ["flask_two_factor", "messages"]
    return found


CATALOGS = catalogs()
DOMAINS = [domain for domain, *_ in CATALOGS]


def read_catalog(path: Path) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle)


def po_path(directory: Path, domain: str) -> Path:
    return directory / LANGUAGE / "LC_MESSAGES" / f"{domain}.po"


def german(domain: str) -> Catalog:
    directory = next(directory for name, directory, *_ in CATALOGS if name == domain)
    return read_catalog(po_path(directory, domain))


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


def ids(message: Message) -> tuple[str, ...]:
    return message.id if isinstance(message.id, tuple) else (message.id,)


def forms(message: Message) -> tuple[str, ...]:
    return message.string if isinstance(message.string, tuple) else (message.string,)


# -- (a) every message translated -----------------------------------------------------------------


def translation_problems(template: Catalog, translated: Catalog) -> list[str]:
    """Return what is missing or wrong in ``translated`` for the messages of ``template``."""
    problems = []
    for message in template:
        if not message.id:
            continue
        done = translated.get(message.id)
        if done is None:
            problems.append(f"missing: {message.id!r}")
            continue
        if done.fuzzy:
            problems.append(f"fuzzy: {message.id!r}")
        strings = forms(done)
        if message.pluralizable and len(strings) != translated.num_plurals:
            problems.append(f"{len(strings)} plural forms, not {translated.num_plurals}: {message.id!r}")
        if not all(string.strip() for string in strings):
            problems.append(f"untranslated: {message.id!r}")
            continue
        expected = set().union(*map(placeholders, ids(message)))
        used = [placeholders(string) for string in strings]
        if message.pluralizable:
            # A singular form may say "one" instead of %(num)d, but nothing may be lost in the plural.
            wrong = any(not names <= expected for names in used) or used[-1] != expected
        else:
            wrong = used[0] != expected
        if wrong:
            problems.append(f"placeholders {sorted(set().union(*used))} for {sorted(expected)}: {message.id!r}")
        try:
            for string in strings:
                string % dict.fromkeys(expected, 1)  # a stray "%" raises here, as gettext would
        except (ValueError, TypeError, KeyError) as error:
            problems.append(f"not a format string ({error}): {message.id!r}")
    return problems


@pytest.mark.parametrize("domain", DOMAINS)
def test_every_message_has_a_german_translation(domain: str) -> None:
    directory = next(directory for name, directory, *_ in CATALOGS if name == domain)
    template = read_catalog(directory / f"{domain}.pot")
    translated = german(domain)
    assert translated.num_plurals == 2 and translated.plural_expr.replace(" ", "") == "(n!=1)"
    problems = translation_problems(template, translated)
    assert not problems, f"{len(problems)} problem(s) in {domain} ({LANGUAGE}):\n" + "\n".join(problems)


def test_the_checker_finds_each_kind_of_problem() -> None:
    template, translated = Catalog(), Catalog(locale=LANGUAGE)
    for text in ("Missing", "Fuzzy", "Empty", "Wait %(seconds)d seconds.", "100%% sure, %(name)s"):
        template.add(text)
    template.add(("%(num)d code", "%(num)d codes"))
    translated.add("Fuzzy", "Unscharf", flags=["fuzzy"])
    translated.add("Empty", "")
    translated.add("Wait %(seconds)d seconds.", "Warten Sie %(sekunden)d Sekunden.")
    translated.add("100%% sure, %(name)s", "100 % sicher, %(name)s")
    translated.add(("%(num)d code", "%(num)d codes"), ("ein Code", ""))
    found = "\n".join(translation_problems(template, translated))
    for expected in ("missing: 'Missing'", "fuzzy: 'Fuzzy'", "untranslated: 'Empty'", "placeholders ['sekunden']"):
        assert expected in found
    assert "not a format string" in found and "untranslated: ('%(num)d code'" in found


# -- (b) the committed catalogs are current -------------------------------------------------------


@pytest.mark.parametrize("domain", DOMAINS)
def test_the_catalog_is_up_to_date_with_the_sources(domain: str, tmp_path: Path) -> None:
    _, directory, mapping, keywords = next(entry for entry in CATALOGS if entry[0] == domain)
    fresh = tmp_path / f"{domain}.pot"
    pybabel = REPO / ".venv" / "bin" / "pybabel"
    command = [str(pybabel), "-q", "extract", "-F", mapping, *keywords, "-o", str(fresh), "."]
    subprocess.run(command, cwd=REPO, check=True, capture_output=True, timeout=120)
    extracted = {message.id for message in read_catalog(fresh) if message.id}
    committed = {message.id for message in german(domain) if message.id}
    template = {message.id for message in read_catalog(directory / f"{domain}.pot") if message.id}
    # scripts/translations extracts, merges and compiles; run it when either of these fails.
    assert sorted(map(str, extracted - committed)) == [], "new in the sources, not in the .po"
    assert sorted(map(str, committed - extracted)) == [], "in the .po, gone from the sources"
    assert template == extracted, "the .pot is stale"


@pytest.mark.parametrize("domain", DOMAINS)
def test_the_compiled_catalog_matches_the_po(domain: str) -> None:
    directory = next(directory for name, directory, *_ in CATALOGS if name == domain)
    compiled = io.BytesIO()
    write_mo(compiled, german(domain))
    compiled.seek(0)
    expected = gettext.GNUTranslations(compiled)._catalog  # type: ignore[attr-defined]
    with (directory / LANGUAGE / "LC_MESSAGES" / f"{domain}.mo").open("rb") as handle:
        committed = gettext.GNUTranslations(handle)._catalog  # type: ignore[attr-defined]
    assert committed == expected, "the .mo is not the .po compiled: run scripts/translations"


# -- (c) no literal text in a template ------------------------------------------------------------

# Stands for whatever a {{ }} or {% %} produces, also inside a tag (<h3{% if %} id=…{% endif %}>): no letter.
EXPRESSION = " "
# Stands for a {{ }} that prints a string constant of its own ({{ "day" if n == 1 else "days" }}): \x01N\x01.
PRINTED = re.compile("\x01(\\d+)\x01")
LETTER = re.compile(r"[^\W\d_]")


def template_skeleton(source: str) -> tuple[str, list[list[str]]]:
    """Return the template's literal text, each {{ }} / {% %} / {# #} replaced by a stand-in.

    A {{ }} that prints a string constant (outside any call or filter argument: those go through
    _tf or are names) stands in as a PRINTED marker; the constants are returned by the marker's number.
    """
    env = Environment(extensions=["jinja2.ext.i18n"])  # noqa: S701  (lexed, never rendered)
    parts: list[str] = []
    printed: list[list[str]] = []
    kind_open, depth, strings = "", 0, []
    for _, kind, value in env.lex(source):
        if kind == "data" and not kind_open:
            parts.append(value)
        elif kind in ("variable_begin", "block_begin", "comment_begin"):
            kind_open, depth, strings = kind, 0, []
        elif kind in ("variable_end", "block_end", "comment_end"):
            words = [text for text in strings if LETTER.search(text)]
            if kind == "variable_end" and words:
                printed.append(words)
                parts.append(f"\x01{len(printed) - 1}\x01")
            elif parts and parts[-1].endswith(("<", "</")):
                parts.append("x-expression")  # a tag named by an expression (<{{ level }}>) still parses as one
            else:
                parts.append(EXPRESSION)
            kind_open = ""
        elif kind_open == "variable_begin" and kind == "operator" and value in "([{":
            depth += 1
        elif kind_open == "variable_begin" and kind == "operator" and value in ")]}":
            depth -= 1
        elif kind_open == "variable_begin" and kind == "string" and depth == 0:
            strings.append(value[1:-1])  # the lexer's raw token: quotes included
    return "".join(parts), printed


class LiteralFinder(HTMLParser):
    """Collects text and human attribute values that contain letters, outside scripts and styles."""

    def __init__(self, printed: list[list[str]]) -> None:
        super().__init__(convert_charrefs=True)
        self.printed = printed
        self.found: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self.skipping += 1
        button = tag == "input" and (dict(attrs).get("type") or "").lower() in BUTTON_INPUTS
        for name, value in attrs:
            human = name in HUMAN_ATTRIBUTES or bool(HUMAN_DATA.fullmatch(name)) or (name == "value" and button)
            if human and value:
                self.note(f'{tag} {name}="{value}"', value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self.skipping:
            self.skipping -= 1

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.note(data, data)

    def note(self, where: str, text: str) -> None:
        for number in PRINTED.findall(text):
            self.found.extend(f'{{{{ "{word}" }}}}' for word in self.printed[int(number)])
        literal = " ".join(html.unescape(PRINTED.sub(" ", text)).split())
        if LETTER.search(literal) and literal not in ALLOWED_LITERALS:
            self.found.append(" ".join(PRINTED.sub("{{ … }}", where).split()))


def literals(source: str, is_html: bool) -> list[str]:
    """Return the words of a template that no catalog translates."""
    skeleton, printed = template_skeleton(source)
    finder = LiteralFinder(printed)
    if is_html:
        finder.feed(skeleton)
        finder.close()
    else:
        finder.note(skeleton, skeleton)
    return finder.found


def test_the_literal_finder_sees_text_and_human_attributes_only() -> None:
    source = """<!doctype html><html lang="{{ tf_language() }}"><head><style>a { color: red; }</style></head>
    <p class="tf-hint">{{ _tf("Hello") }} &middot; {{ name }}</p>{# a comment #}{% if x %}Stray words{% endif %}
    <input type="submit" value="Send"><input type="text" value="{{ v }}" placeholder="XXXX-XXXX-XXXX-XXXX-XXXX-XXXX">
    <img alt="A picture" src="/x.png"><a href="/login" aria-label="{{ _tf('Log in') }}">&rarr;</a>
    <script>const words = "not text";</script><p data-copy="#tf-secret" data-text-ready="Ready">{{ x }}</p>"""
    found = ["Stray words", 'input value="Send"', 'img alt="A picture"', 'p data-text-ready="Ready"']
    assert literals(source, is_html=True) == found
    assert literals("{{ what }}\n\nWhen: {{ when }}\n--\n", is_html=False) == ["When: --"]
    assert literals('<h3{% if x %} id="h" tabindex="-1"{% endif %}>{{ _tf("Hi") }}</h3>', is_html=True) == []
    assert literals('<{{ level }} id="h" title="Heading">{{ _tf("Hi") }}</{{ level }}>', is_html=True) == [
        'x-expression title="Heading"'
    ]
    # A string printed by an expression is a literal too, in text; not in a class, nor as a call's argument.
    printed = '<p class="{{ "tf-a" if x else "tf-b" }}">{{ n }} {{ "day" if n == 1 else "days" }}</p>'
    assert literals(printed, is_html=True) == ['{{ "day" }}', '{{ "days" }}']
    assert literals('<p>{{ _tfn("%(num)d day", "%(num)d days", n) }} {{ x | default("-") }}</p>', is_html=True) == []
    in_text = literals('{{ "code" if n == 1 else "codes" }} left', is_html=False)
    assert in_text == ['{{ "code" }}', '{{ "codes" }}', "{{ … }} left"]


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda path: str(path.relative_to(REPO)))
def test_no_template_has_an_untranslated_literal(path: Path) -> None:
    found = literals(path.read_text(), is_html=path.suffix == ".html")
    advice = "wrap these in _tf()/_() (or add a non-word to ALLOWED_LITERALS)"
    assert not found, f"{path.relative_to(REPO)}: {advice}:\n" + "\n".join(found)


# -- (d) pages and JSON in German -----------------------------------------------------------------


def sentences(domain: str) -> Iterator[tuple[str, str]]:
    """Yield (English, German) of the catalog's plain sentences: three words or more, no placeholder."""
    for message in german(domain):
        plain = message.id and not message.pluralizable and "%" not in message.id and len(message.id.split()) >= 3
        if plain and message.string and message.string != message.id:
            yield " ".join(message.id.split()), " ".join(message.string.split())


def visible_text(page: str) -> str:
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def assert_german(page: str) -> None:
    """The page says <html lang="de">, shows German from a catalog, and no English sentence of one."""
    assert '<html lang="de">' in page
    text = visible_text(page)
    pairs = [pair for domain in DOMAINS for pair in sentences(domain)]
    english = [source for source, translated in pairs if source in text and translated not in text]
    assert not english, english
    assert any(translated in text for _, translated in pairs)


def translations_of(domain: str) -> set[str]:
    return {string for message in german(domain) for string in forms(message) if string}


@pytest.fixture
def two_factor_on(api: Api, clock: FrozenClock) -> Api:
    assert api.register().status_code == 201
    api.enable(clock)
    clock.advance(30)
    return api


def test_the_login_page_is_german(client) -> None:
    assert_german(client.get("/login", headers=GERMAN).get_data(as_text=True))


def test_settings_with_two_factor_off_are_german(api: Api) -> None:
    assert api.register().status_code == 201
    assert_german(api.client.get("/2fa/settings", headers=GERMAN).get_data(as_text=True))


def test_settings_with_two_factor_on_are_german(two_factor_on: Api) -> None:
    assert_german(two_factor_on.client.get("/2fa/settings", headers=GERMAN).get_data(as_text=True))


def test_the_challenge_is_german(two_factor_on: Api) -> None:
    two_factor_on.logout()
    assert two_factor_on.login().get_json()["twoFactorRequired"] is True
    page = two_factor_on.client.get("/2fa/challenge", headers=GERMAN).get_data(as_text=True)
    assert_german(page)


def test_the_reauth_page_is_german(two_factor_on: Api) -> None:
    assert_german(two_factor_on.client.get("/2fa/reauth", headers=GERMAN).get_data(as_text=True))


def test_json_errors_are_german(api: Api) -> None:
    api.refresh_token()
    body = {"username": "nobody", "password": "not the password"}
    english = api.post("/login", body).get_json()["error"]
    response = api.post("/login", body, headers=GERMAN)
    assert response.status_code == 401
    assert response.get_json()["error"] != english and response.get_json()["error"] in translations_of("messages")
    refused = api.post("/2fa/validate", {"code": "123456"}, headers=GERMAN)
    assert refused.status_code == 401 and refused.get_json()["error"] in translations_of("flask_two_factor")


def test_the_host_locale_selector_wins_over_the_browser(app: Flask, api: Api) -> None:
    app.extensions["babel"].locale_selector = lambda: "en"
    page = api.client.get("/login", headers=GERMAN).get_data(as_text=True)
    assert '<html lang="en">' in page and "Keep me signed in on this browser" in page
    assert api.register().status_code == 201
    settings = api.client.get("/2fa/settings", headers=GERMAN).get_data(as_text=True)
    assert '<html lang="en">' in settings and "Set up two-factor authentication" in settings
    refused = api.post("/2fa/verify", {"code": "123456"}, headers=GERMAN).get_json()["error"]
    assert refused in {message.id for message in german("flask_two_factor")}  # the English original


def test_a_host_catalog_rewords_ours_and_keeps_the_rest(database_url: str, tmp_path: Path) -> None:
    reworded = Catalog(locale="en")
    reworded.add("Security settings", "Account security")
    (tmp_path / "en" / "LC_MESSAGES").mkdir(parents=True)
    with (tmp_path / "en" / "LC_MESSAGES" / "flask_two_factor.mo").open("wb") as handle:
        write_mo(handle, reworded)
    app = create_app(make_config(database_url, TWO_FACTOR_TRANSLATION_DIRECTORIES=[str(tmp_path)]))
    with app.app_context():
        db.create_all()
    try:
        api = Api(app.test_client())
        assert api.register().status_code == 201
        page = visible_text(api.client.get("/2fa/settings").get_data(as_text=True))
        assert "Account security" in page and "Security settings" not in page
        assert "Set up two-factor authentication" in page  # every other message keeps ours
        assert "Sicherheitseinstellungen" in api.client.get("/2fa/settings", headers=GERMAN).get_data(as_text=True)
    finally:
        with app.app_context():
            db.drop_all()
            db.engine.dispose()


def test_a_page_missing_in_german_is_a_german_404(client) -> None:
    response = client.get("/no-such-page", headers=GERMAN)
    assert response.status_code == 404
    assert_german(response.get_data(as_text=True))
    answer = client.get("/no-such-page", headers={**GERMAN, "Accept": "application/json"})
    assert answer.status_code == 404 and answer.get_json()["error"] in translations_of("messages")


# -- (e) mail in the language of the request that caused it ---------------------------------------


@pytest.mark.parametrize("config_overrides", [{"TWO_FACTOR_NOTIFY_IN_BACKGROUND": True}])
def test_a_notice_caused_by_a_german_request_is_german(
    app: Flask, api: Api, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    notices: list[notifications.Notice] = []
    monkeypatch.setattr(app.extensions["two_factor"], "notify", lambda user, notice: notices.append(notice))
    api.refresh_token()
    assert api.post("/register", {"username": "alice", "password": PASSWORD}, headers=GERMAN).status_code == 201
    api.refresh_token()
    secret = api.post("/2fa/setup", headers=GERMAN).get_json()["secret"]
    assert api.post("/2fa/verify", {"code": totp_now(secret, clock)}, headers=GERMAN).status_code == 200
    notifications.wait()  # written on the notices' own thread, with no request of its own
    (notice,) = notices
    assert notice.subject.startswith(german("flask_two_factor")["Two-factor authentication was turned on"].string)
    assert_german(notice.html)
    pairs = list(sentences("flask_two_factor"))
    assert not [source for source, translated in pairs if source in " ".join(notice.text.split())]
    assert "When" not in notice.text and "Wann: 01.01.2026, 12:00 UTC" in notice.text


# -- the wheel ships the compiled catalogs ----------------------------------------------------------


def test_the_wheel_carries_the_compiled_catalogs(tmp_path: Path) -> None:
    command = [str(REPO / ".venv" / "bin" / "python"), "-m", "build", "--wheel", "--no-isolation", "--outdir"]
    subprocess.run([*command, str(tmp_path), str(REPO)], check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    domain, directory, *_ = CATALOGS[0]
    shipped = [f"flask_two_factor/translations/{mo.relative_to(directory)}" for mo in directory.rglob(f"{domain}.mo")]
    assert shipped and set(shipped) <= names
    assert "flask_two_factor/translations/flask_two_factor.pot" in names  # hosts start new languages from it
    assert not any(name.endswith("messages.mo") for name in names)  # the demo's catalog is no part of it
