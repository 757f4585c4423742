"""`python -m services.ordering`: the only place that reads the environment."""

from libs.common.runtime import main
from services.ordering.app import Settings, build_spec

settings = Settings()
main(build_spec(settings), settings)
