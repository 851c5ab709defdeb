"""AutoML-Zero's config lives in :mod:`primeval.algorithms.config`, next to the app; this
name stays for scripts and tools that import it."""

from primeval.algorithms.config import (
    DEMO_OPS,
    Config,
    ConfigError,
    TaskConfig,
    default_config_text,
    dump_config,
    load_config,
    parse_config,
    with_data_path,
)

__all__ = [
    "DEMO_OPS",
    "Config",
    "ConfigError",
    "TaskConfig",
    "default_config_text",
    "dump_config",
    "load_config",
    "parse_config",
    "with_data_path",
]
