"""`python -m services.ordering`: the only place that reads the environment."""

from libs.common.runtime import main
from services.ordering.app import SPEC, Settings

main(SPEC, Settings())
