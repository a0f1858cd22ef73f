"""Who the tests sign in as: one system token with every role, and people for the screens.

The token belongs to a test account that conftest.demo_config_text appends to every hall config
the tests use; the people are the demo hall's own accounts, whose PINs and passwords the demo
config's sign-in hint tells its users.
"""

from __future__ import annotations

import dataclasses

from hall_controller.settings import Account, Settings

TEST_TOKEN = "tests-token-with-every-role-0123456789abcdef"
TEST_TOKEN_HASH = "sha256:aa4db4ebd7fca845dbf5bef57a901815d1a08d947e2c2039d9fa47340f30680b"
AUTH = {"Authorization": f"Bearer {TEST_TOKEN}"}
# The same account as TOML, for a config file read by a controller in another process.
TEST_ACCOUNT_TOML = f"""
[[accounts]]
id = "tests"
name_zh = "测试"
name_en = "Tests"
roles = ["staff", "manager", "technician"]
token_hash = "{TEST_TOKEN_HASH}"
"""

# The demo hall's people (config/demo-hall.toml): account, secret, role.
DEMO_CLERK = ("zhang.min", "1111")  # staff, windows 1-3
DEMO_MANAGER = ("wang.li", "manager-demo")
DEMO_TECHNICIAN = ("chen.gang", "technician-demo")
DEMO_KIOSK_TOKENS = {"k1": "demo-kiosk-k1-token", "k2": "demo-kiosk-k2-token"}


def with_test_access(settings: Settings) -> Settings:
    """The settings with the tests' token account, for settings not read from a test config."""
    if any(a.id == "tests" for a in settings.access.accounts):
        return settings
    account = Account(
        id="tests",
        name_zh="测试",
        name_en="Tests",
        roles=frozenset({"staff", "manager", "technician"}),
        token_hash=TEST_TOKEN_HASH,
    )
    access = dataclasses.replace(settings.access, accounts=(*settings.access.accounts, account))
    return dataclasses.replace(settings, access=access)
