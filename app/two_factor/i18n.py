"""Languages: the product's own gettext domain, so a host's catalogs and ours never mix.

Strings are marked with ``_`` / ``_n`` in Python and ``_tf`` / ``_tfn`` in templates (names no host
template uses, so the host's own ``_`` keeps its catalog). The locale is Flask-Babel's: the host's
locale selector when it has one, else the best match of ``Accept-Language`` among the languages we
have a catalog for.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from babel.dates import format_date, format_time, get_datetime_format
from flask import Flask, current_app, has_app_context, has_request_context, request
from flask_babel import Babel, Domain, force_locale, get_locale
from flask_babel.speaklater import LazyString

DOMAIN = "flask_two_factor"
CATALOGS = Path(__file__).parent / "translations"
SOURCE_LANGUAGE = "en"
_EXTENSION_KEY = "two_factor_translations"

__all__ = ["DOMAIN", "_", "_lazy", "_n", "force_locale", "install", "language", "local_time", "utc_time"]


def install(app: Flask) -> None:
    """Give the app our catalogs, a Flask-Babel when it has none, and the template functions."""
    directories = [str(CATALOGS), *map(str, app.config["TWO_FACTOR_TRANSLATION_DIRECTORIES"])]
    app.extensions[_EXTENSION_KEY] = Domain(directories, DOMAIN)
    languages = available_languages(directories)
    babel = app.extensions.get("babel")
    if babel is None:
        Babel(app, locale_selector=_accept_language(languages))
    elif babel.locale_selector is None:
        # The host translates nothing per request: our pages follow the browser's languages.
        babel.locale_selector = _accept_language(languages)
    app.jinja_env.globals.update(
        _tf=_, _tfn=_n, tf_language=language, tf_local_time=local_time, tf_utc_time=utc_time
    )


def available_languages(directories: list[str]) -> list[str]:
    """Return the source language and every language with a compiled catalog of our domain."""
    found = {SOURCE_LANGUAGE}
    for directory in directories:
        found.update(path.parents[1].name for path in Path(directory).glob(f"*/LC_MESSAGES/{DOMAIN}.mo"))
    return sorted(found)


def _accept_language(languages: list[str]) -> Callable[[], str | None]:
    def select() -> str | None:
        if not has_request_context():
            return None
        return request.accept_languages.best_match(languages, default=SOURCE_LANGUAGE)

    return select


def _domain() -> Domain | None:
    return current_app.extensions.get(_EXTENSION_KEY) if has_app_context() else None


def _(text: str, **variables: Any) -> str:
    """Return ``text`` in the current language, ``%(name)s`` filled from ``variables``."""
    domain = _domain()
    if domain is None:
        return text % variables if variables else text
    return domain.gettext(text, **variables)


def _n(singular: str, plural: str, num: int, **variables: Any) -> str:
    """Return the form of ``singular``/``plural`` the language uses for ``num`` (``%(num)d`` in the text)."""
    domain = _domain()
    if domain is None:
        variables.setdefault("num", num)
        return (singular if num == 1 else plural) % variables
    return domain.ngettext(singular, plural, num, **variables)


def _lazy(text: str, **variables: Any) -> LazyString:
    """Return ``text`` translated when it is used, for module-level constants."""
    return LazyString(_, text, **variables)


def language() -> str:
    """Return the current language as a BCP 47 tag for ``<html lang>`` (e.g. "de", "pt-BR")."""
    locale = get_locale() if has_app_context() else None
    return str(locale).replace("_", "-") if locale else SOURCE_LANGUAGE


def local_time(moment: datetime) -> str:
    """Return a moment in UTC as the current language writes a date and time ("Jan 2, 2026, 2:05 PM")."""
    locale = (get_locale() if has_app_context() else None) or SOURCE_LANGUAGE
    moment = moment.astimezone(UTC)
    date = format_date(moment, "medium", locale=locale)
    time = format_time(moment, "short", tzinfo=UTC, locale=locale)
    return get_datetime_format("medium", locale=locale).replace("{1}", date).replace("{0}", time)


def utc_time(moment: datetime) -> str:
    """Return ``local_time`` with the zone said ("Jan 2, 2026, 14:05 UTC"): pages without JavaScript show this."""
    return _("%(time)s UTC", time=local_time(moment))
