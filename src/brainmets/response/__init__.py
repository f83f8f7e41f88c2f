"""Response over time: RANO-BM engine (``rano``), lesion tracking across scans (``tracking``),
trajectory plots (``plot``)."""

from brainmets.response.config import ResponseConfig, default_config, get_config
from brainmets.response.rano import ResponseResult, evaluate
from brainmets.response.schema import TimepointsRecord, parse_record

__all__ = [
    "ResponseConfig",
    "ResponseResult",
    "TimepointsRecord",
    "default_config",
    "evaluate",
    "get_config",
    "parse_record",
]
