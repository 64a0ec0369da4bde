"""`bot serve` warns when it is reachable from other machines with a weak dashboard token."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot.cli.process import _warn_if_exposed
from bot.settings import Settings


@pytest.mark.parametrize(("host", "token", "warned"), [
    ("127.0.0.1", None, ""), ("localhost", "short", ""), ("::1", None, ""),
    ("0.0.0.0", None, "ADMIN_TOKEN unset"), ("0.0.0.0", "short", "shorter than 24"),
    ("10.0.0.5", "a-token-long-enough-for-anyone-0123", ""),
])
def test_a_public_address_with_a_weak_token_is_warned_about(
    make_settings: Callable[..., Settings], capsys: pytest.CaptureFixture[str],
    host: str, token: str | None, warned: str,
) -> None:
    _warn_if_exposed(host, make_settings(admin_token=token))
    err = capsys.readouterr().err
    assert (warned in err) if warned else err == ""
