"""Config: YAML loading, validation with key paths, and the one ParameterProvider.

- `load_config(path) -> AppConfig` or `ConfigError(problems)`; `default_config_path()`.
- `ParameterProvider(config).resolve(name, symbol, regime) -> Resolution`; the resolution order of
  every parameter is the table `okxscalp.config.chains.CHAINS`.
"""

from okxscalp.config.chains import (
    CHAINS,
    EXCHANGE_LEVER_SOURCE,
    EXCHANGE_LEVERAGE_INFO_SOURCE,
    PARAMETER_NAMES,
    ChainStep,
    ParameterUnavailable,
    Resolution,
    UnknownParameter,
)
from okxscalp.config.loader import load_config, load_document, validate_document
from okxscalp.config.paths import default_config_path
from okxscalp.config.problems import ConfigError, Problem
from okxscalp.config.provider import LeverageUnavailable, ParameterProvider

__all__ = [
    "CHAINS",
    "EXCHANGE_LEVERAGE_INFO_SOURCE",
    "EXCHANGE_LEVER_SOURCE",
    "PARAMETER_NAMES",
    "ChainStep",
    "ConfigError",
    "LeverageUnavailable",
    "ParameterProvider",
    "ParameterUnavailable",
    "Problem",
    "Resolution",
    "UnknownParameter",
    "default_config_path",
    "load_config",
    "load_document",
    "validate_document",
]
