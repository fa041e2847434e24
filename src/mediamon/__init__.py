"""mediamon: scheduled monitoring of Chinese- and English-language coverage of AI, chips and valuations."""

import os as _os

# Prefect's server and client send usage telemetry to the internet by default. mediamon runs offline
# (demo, tests) and contacts nothing but its feeds, so it opts out unless the operator says otherwise.
_os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
_os.environ.setdefault("DO_NOT_TRACK", "1")

__version__ = "0.1.0"
