"""`python -m services.identity`: the only place that reads the environment."""

from libs.common.runtime import main
from services.identity.app import Settings, build_spec

settings = Settings()
main(build_spec(settings), settings)
