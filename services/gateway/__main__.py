"""`python -m services.gateway`: the only place that reads the environment."""

import uvloop

from libs.common.logging import configure_logging
from services.gateway.app import Settings, serve

settings = Settings()
configure_logging(settings.log_level, settings.log_format)
uvloop.run(serve(settings))  # as every service process (libs.common.runtime.run_process)
