"""`python -m services.loyalty`: the only place that reads the environment."""

from libs.common.runtime import main
from services.loyalty.app import SPEC, Settings

main(SPEC, Settings())
