"""Every test suite of the repo shares the stack fixtures of libs.common.testing."""

pytest_plugins = ["libs.common.testing"]
