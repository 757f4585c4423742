"""`python -m services.identity`: the only place that reads the environment."""

from libs.common.runtime import main
from services.identity.app import SPEC, Settings

main(SPEC, Settings())
