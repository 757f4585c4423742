"""Every test suite of the repo shares the stack fixtures of libs.devstack.testing."""

pytest_plugins = ["libs.devstack.testing"]
