"""config.yml: loading it as nameko does, and the paths settings lead to.

Nameko itself loads config.yml (``nameko run --config config.yml``) and hands the
container a dict; ``load_config`` parses the same file the same way for tools and
tests. What each setting means, its type and its default: ``shared.settings``.
"""
import os
from functools import partial
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_FILE = REPO_ROOT / "config.yml"


def _config_loader():
    """A YAML loader expanding ``${VAR:default}`` exactly as ``nameko run`` does.

    nameko's own setup patches ``yaml.SafeLoader`` for the whole process; a
    subclass keeps other YAML readers (docker-compose.yml in the tests) untouched.
    """
    from nameko.cli.main import IMPLICIT_ENV_VAR_MATCHER, env_var_constructor

    class ConfigLoader(yaml.SafeLoader):
        pass

    ConfigLoader.add_constructor("!env_var", env_var_constructor)
    ConfigLoader.add_constructor("!raw_env_var", partial(env_var_constructor, raw=True))
    ConfigLoader.add_implicit_resolver("!env_var", IMPLICIT_ENV_VAR_MATCHER, None)
    return ConfigLoader


def load_config(path=DEFAULT_CONFIG_FILE, overrides=None):
    """Parse config.yml as ``nameko run --config`` does, plus ``overrides``."""
    with open(path) as config_file:
        config = yaml.load(config_file, Loader=_config_loader()) or {}
    config.update(overrides or {})
    return config


def var_dir(settings):
    """Where a service keeps local state (SQLite fallback, generated keys): ``VAR_DIR``
    of ``settings`` (``shared.settings.Settings``), made if missing."""
    path = Path(settings.VAR_DIR)
    if not path.is_absolute():
        path = Path(os.getcwd()) / path
    path.mkdir(parents=True, exist_ok=True)
    return path


def db_url(settings, service_name):
    """``<SERVICE>_DB_URL``, or a SQLite file under ``VAR_DIR`` when it is unset."""
    return settings.db_url(service_name) or \
        f"sqlite:///{var_dir(settings) / (service_name + '.db')}"
