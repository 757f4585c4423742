"""`python -m services.catalog`: the only place that reads the environment."""

from libs.common.runtime import main
from services.catalog.app import SPEC, Settings

main(SPEC, Settings())
