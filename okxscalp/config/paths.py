"""Where the shipped config lives.

`default_config_path()`: `config/default.yaml` in the current working directory if there is one
(running from a checkout, or a deployment directory with its own config), else the one in the
repository the package is installed from (`pip install -e .`: next to the `okxscalp/` package).
"""

from __future__ import annotations

from pathlib import Path

DEFAULT_CONFIG_NAME = Path("config") / "default.yaml"
OKX_DEMO_EXAMPLE_NAME = Path("config") / "okx-demo.example.yaml"


def package_repo_root() -> Path:
    return Path(__file__).resolve().parent.parent.parent


def default_config_path(cwd: Path | None = None) -> Path:
    """The config used when none is given. The returned path may not exist (then loading it
    reports so, naming this path)."""
    local = (cwd or Path.cwd()) / DEFAULT_CONFIG_NAME
    if local.is_file():
        return local
    return package_repo_root() / DEFAULT_CONFIG_NAME
