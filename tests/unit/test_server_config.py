"""The `admin` and server `limits` keys: defaults, and bad values refused with a clear error."""

import pytest

from agent.config import ConfigError, load_settings
from agent.server_admin import load_token

pytestmark = pytest.mark.unit


def test_defaults_keep_metrics_on_the_api_port_with_nginx_timeouts():
    s = load_settings(None, {})
    assert s.admin.listen is None and s.admin.bearer_token is None
    assert (s.limits.header_timeout_s, s.limits.keepalive_timeout_s) == (60.0, 75.0)
    assert s.limits.max_connections == 4096 and s.limits.max_body_bytes == 16 * 1024 * 1024


@pytest.mark.parametrize(
    "admin, says",
    [
        ({"listen": "9100"}, "is not HOST:PORT"),
        ({"listen": "127.0.0.1:99999"}, "is not HOST:PORT"),
        ({"bearer_token": "t"}, "needs admin.listen"),
        ({"listen": "127.0.0.1:1", "bearer_token": "t", "bearer_token_file": "/x"}, "not both"),
    ],
)
def test_bad_admin_config_is_refused(admin, says):
    with pytest.raises(ConfigError, match=says):
        load_settings(None, {"admin": admin})


def test_ipv6_listen_and_token_file(tmp_path):
    (tmp_path / "t").write_text("tok\n")
    s = load_settings(
        None, {"admin": {"listen": "[::1]:0", "bearer_token_file": str(tmp_path / "t")}}
    )
    assert load_token(s.admin) == b"tok"
    (tmp_path / "t").write_text("\n")
    with pytest.raises(ValueError, match="is empty"):
        load_token(s.admin)


def test_the_token_is_masked_in_config_show():
    s = load_settings(None, {"admin": {"listen": "127.0.0.1:0", "bearer_token": "hunter2"}})
    assert "hunter2" not in str(s.model_dump(mode="json"))
