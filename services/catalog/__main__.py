"""`python -m services.catalog`: the only place that reads the environment."""

from libs.common.runtime import main
from services.catalog.app import Settings, build_spec

settings = Settings()
main(build_spec(settings), settings)
