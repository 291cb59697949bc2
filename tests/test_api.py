"""The HTTP contract of DESIGN.md §6, as a JSON client sees it, on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest

from tests.support import PASSWORD, Api, FrozenClock, totp_now


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


def test_status_before_setup(api: Api) -> None:
    api.register()
    response = api.get("/2fa/status")
    assert response.status_code == 200
    assert response.get_json() == {"enabled": False, "pending": False, "backupCodesRemaining": 0}


def test_setup_returns_qr_secret_and_uri(api: Api) -> None:
    api.register()
    response = api.setup()
    body = response.get_json()
    assert response.status_code == 200 and set(body) == {"qrCode", "secret", "otpauthUri"}
    assert body["qrCode"].startswith("data:image/svg+xml")
    assert body["otpauthUri"] == f"otpauth://totp/Test%20Issuer:alice?secret={body['secret']}&issuer=Test%20Issuer"
    assert response.headers["Cache-Control"] == "no-store"
    assert api.get("/2fa/status").get_json() == {"enabled": False, "pending": True, "backupCodesRemaining": 0}


def test_verify_enables_and_returns_ten_codes(api: Api, clock: FrozenClock) -> None:
    api.register()
    api.setup()
    response = api.post("/2fa/verify", {"code": totp_now(api.secret, clock)})
    body = response.get_json()
    assert response.status_code == 200
    assert body["success"] is True and isinstance(body["message"], str) and len(body["backupCodes"]) == 10
    assert response.headers["Cache-Control"] == "no-store"
    assert api.get("/2fa/status").get_json() == {"enabled": True, "pending": False, "backupCodesRemaining": 10}


def test_setup_when_enabled_is_400(enabled: Api) -> None:
    response = enabled.setup()
    assert response.status_code == 400 and "already enabled" in response.get_json()["error"]


def test_verify_without_setup_is_400(api: Api) -> None:
    api.register()
    response = api.post("/2fa/verify", {"code": "123456"})
    assert response.status_code == 400 and "Set up" in response.get_json()["error"]


def test_verify_with_wrong_code_is_400(api: Api, clock: FrozenClock) -> None:
    api.register()
    api.setup()
    wrong = f"{(int(totp_now(api.secret, clock)) + 1) % 1_000_000:06d}"
    response = api.post("/2fa/verify", {"code": wrong})
    assert response.status_code == 400 and response.get_json()["error"]


def test_login_with_2fa_requires_the_challenge(enabled: Api, clock: FrozenClock) -> None:
    enabled.logout()
    response = enabled.login()
    assert response.get_json() == {"ok": True, "twoFactorRequired": True}
    assert enabled.get("/2fa/status").status_code == 401
    response = enabled.post("/2fa/validate", {"code": totp_now(enabled.secret, clock)})
    assert response.status_code == 200
    assert response.get_json() == {"valid": True, "required": True, "redirect": "/"}
    enabled.refresh_token()
    assert enabled.get("/2fa/status").get_json()["enabled"] is True


def test_login_without_2fa_logs_in_at_once(api: Api) -> None:
    api.register()
    api.logout()
    assert api.login().get_json() == {"ok": True, "twoFactorRequired": False}
    assert api.get("/2fa/status").status_code == 200


def test_validate_with_backup_code(enabled: Api) -> None:
    enabled.logout()
    enabled.login()
    response = enabled.post("/2fa/validate", {"code": enabled.backup_codes[0]})
    assert response.status_code == 200 and response.get_json()["valid"] is True
    enabled.refresh_token()
    assert enabled.get("/2fa/status").get_json()["backupCodesRemaining"] == 9


def test_validate_wrong_code_is_401(enabled: Api, clock: FrozenClock) -> None:
    enabled.logout()
    enabled.login()
    wrong = f"{(int(totp_now(enabled.secret, clock)) + 1) % 1_000_000:06d}"
    response = enabled.post("/2fa/validate", {"code": wrong})
    assert response.status_code == 401
    body = response.get_json()
    assert body["valid"] is False and body["required"] is True and body["error"]


def test_validate_bad_input_is_400(enabled: Api) -> None:
    enabled.logout()
    enabled.login()
    response = enabled.post("/2fa/validate", {"code": "abc"})
    assert response.status_code == 400 and response.get_json()["error"]


def test_validate_without_pending_login_is_401(api: Api) -> None:
    api.refresh_token()
    response = api.post("/2fa/validate", {"code": "123456"})
    assert response.status_code == 401 and response.get_json()["valid"] is False


def test_disable_with_password_and_code(enabled: Api, clock: FrozenClock) -> None:
    response = enabled.post("/2fa/disable", {"password": PASSWORD, "code": totp_now(enabled.secret, clock)})
    assert response.status_code == 200
    assert response.get_json()["success"] is True and response.get_json()["message"]
    assert enabled.get("/2fa/status").get_json() == {"enabled": False, "pending": False, "backupCodesRemaining": 0}


def test_disable_when_not_enabled_is_400(api: Api) -> None:
    api.register()
    response = api.post("/2fa/disable", {"password": PASSWORD, "code": "123456"})
    assert response.status_code == 400 and "not enabled" in response.get_json()["error"]


def test_regenerate_returns_ten_new_codes(enabled: Api, clock: FrozenClock) -> None:
    response = enabled.post("/2fa/backup-codes", {"password": PASSWORD, "code": totp_now(enabled.secret, clock)})
    body = response.get_json()
    assert response.status_code == 200 and set(body) == {"backupCodes"} and len(body["backupCodes"]) == 10
    assert not set(body["backupCodes"]) & set(enabled.backup_codes)
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("path", ["/2fa/status", "/2fa/settings"])
def test_json_client_not_logged_in_gets_401(api: Api, path: str) -> None:
    response = api.get(path)
    assert response.status_code == 401 and response.get_json()["error"]


@pytest.mark.parametrize("path", ["/2fa/setup", "/2fa/verify", "/2fa/disable", "/2fa/backup-codes"])
def test_json_post_not_logged_in_gets_401(api: Api, path: str) -> None:
    api.refresh_token()
    response = api.post(path, {"code": "123456", "password": PASSWORD})
    assert response.status_code == 401 and response.get_json()["error"]


def test_browser_not_logged_in_is_sent_to_login(client) -> None:
    response = client.get("/2fa/settings")
    assert response.status_code == 302 and response.location.startswith("/login")


def test_register_contract(api: Api) -> None:
    assert api.register().status_code == 201
    api.logout()
    assert api.register().status_code == 409
    response = api.register("x", "short")
    assert response.status_code == 400 and response.get_json()["error"]


def test_login_wrong_password_is_401(api: Api) -> None:
    api.register()
    api.logout()
    response = api.login(password="wrong password")
    assert response.status_code == 401 and response.get_json()["error"]


def test_form_post_without_javascript_answers_303(client, api: Api) -> None:
    api.register()
    response = client.post("/2fa/setup", data={"csrf_token": api.token})
    assert response.status_code == 303 and response.location.endswith("/2fa/settings")
    page = client.get("/2fa/settings")
    assert page.status_code == 200 and 'id="tf-setup"' in page.get_data(as_text=True)


def test_htmx_request_gets_a_fragment(client, api: Api) -> None:
    api.register()
    response = client.post("/2fa/setup", headers={"HX-Request": "true", "X-CSRFToken": api.token})
    text = response.get_data(as_text=True)
    assert response.status_code == 200 and text.lstrip().startswith('<div id="tf-setup"')
    assert "HX-Request" in response.headers["Vary"]


def test_browser_asking_for_status_gets_the_settings_page(api: Api) -> None:
    api.register()
    response = api.client.get("/2fa/status", headers={"Accept": "text/html"})
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert '<meta name="csrf-token"' in response.get_data(as_text=True)


@pytest.mark.parametrize(("pending_setup", "panel"), [(False, "tf-status"), (True, "tf-setup")])
def test_htmx_get_of_the_settings_page_gets_its_panel(api: Api, pending_setup: bool, panel: str) -> None:
    api.register()
    if pending_setup:
        api.setup()
    response = api.client.get("/2fa/settings", headers={"HX-Request": "true"})
    assert response.status_code == 200 and response.get_data(as_text=True).lstrip().startswith(f'<div id="{panel}"')


def test_htmx_get_of_the_challenge_gets_its_form(enabled: Api) -> None:
    enabled.logout()
    enabled.login()
    response = enabled.client.get("/2fa/challenge", headers={"HX-Request": "true"})
    assert response.status_code == 200 and response.get_data(as_text=True).lstrip().startswith('<div id="tf-challenge"')


def test_json_client_without_a_pending_login_gets_401_at_the_challenge(api: Api) -> None:
    response = api.get("/2fa/challenge")
    assert response.status_code == 401 and set(response.get_json()) == {"error"}


def test_htmx_redirect_varies_on_hx_request(enabled: Api, clock: FrozenClock) -> None:
    enabled.logout()
    enabled.login()
    headers = {"HX-Request": "true", "X-CSRFToken": enabled.token}
    response = enabled.client.post("/2fa/validate", data={"code": totp_now(enabled.secret, clock)}, headers=headers)
    assert response.headers["HX-Redirect"] == "/" and "HX-Request" in response.headers["Vary"]
