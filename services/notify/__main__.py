"""`python -m services.notify`: the only place that reads the environment."""

from libs.common.runtime import main
from services.notify.app import Settings, build_spec

settings = Settings()
main(build_spec(settings), settings)
