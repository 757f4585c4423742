"""`python -m services.portal`: the only place that reads the environment."""

from libs.common.logging import configure_logging
from libs.common.runtime import run_process
from services.portal.app import Settings, serve

settings = Settings()
configure_logging(settings.log_level, settings.log_format)
run_process(serve(settings))
