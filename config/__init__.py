"""Settings of vpc-ipam: the only code that reads environment variables.

Build them with :func:`load_settings` (or :func:`load_config` for sources and warnings) from
a mapping the caller passes, usually ``os.environ``. Names, defaults and parsing live in the
one table of :mod:`config.table`; the typed, documented result is :class:`Settings`.
"""

from config.cloud_settings import AwsSettings, GceSettings, RateLimitSettings
from config.env import LoadedConfig, Source, load_config, load_settings
from config.errors import ConfigWarning, InvalidConfig, Problem
from config.settings import (
    DaemonSettings,
    DatapathSettings,
    KubernetesSettings,
    Settings,
    WarmPoolSettings,
)
from config.values import (
    BindAddress,
    Dataplane,
    LogFormat,
    LogLevel,
    Provider,
    RandomizeSnat,
    WarmPoolMode,
)

__all__ = [
    "AwsSettings",
    "BindAddress",
    "ConfigWarning",
    "DaemonSettings",
    "DatapathSettings",
    "Dataplane",
    "GceSettings",
    "InvalidConfig",
    "KubernetesSettings",
    "LoadedConfig",
    "LogFormat",
    "LogLevel",
    "Problem",
    "Provider",
    "RandomizeSnat",
    "RateLimitSettings",
    "Settings",
    "Source",
    "WarmPoolMode",
    "WarmPoolSettings",
    "load_config",
    "load_settings",
]
