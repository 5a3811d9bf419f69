"""Where the configuration comes from: `--config FILE`, else `$CKPTGUARD_CONFIG`, else
`/etc/ckptguard/ckptguard.toml`; and the drop-ins in `conf.d/*.toml` beside the latter two.

Drop-ins are read in name order after the main file, in the manner of `logrotate.d` and
`tmpfiles.d`: a top-level key set in a later file wins, `[[directory]]` entries add up,
and `[budgets]` entries are merged by name. `--config FILE` reads FILE alone.
"""

from __future__ import annotations

import glob
import os

from ckptguard.face.config import ConfigError, FileOptions, load_file

DEFAULT_CONFIG = "/etc/ckptguard/ckptguard.toml"
ENVIRONMENT = "CKPTGUARD_CONFIG"


def config_files(explicit: str | None) -> list[str]:
    """The files to read, in order: the main file (when there is one), then its drop-ins.

    An explicit `--config`, or a `$CKPTGUARD_CONFIG` that names a missing file, must
    exist (load_file says so); the default location may be absent. An empty
    `$CKPTGUARD_CONFIG` means no configuration file at all.
    """
    if explicit:
        return [explicit]
    named = os.environ.get(ENVIRONMENT)
    if named == "":
        return []
    main = named or DEFAULT_CONFIG
    # A default file this user may not read is an error, not skipped: a service run as
    # that user must never guard with a policy other than the one configured.
    files = [main] if named or os.path.lexists(main) else []
    drop_ins = os.path.join(os.path.dirname(os.path.abspath(main)), "conf.d", "*.toml")
    return files + sorted(glob.glob(drop_ins))


def load_config(explicit: str | None) -> tuple[FileOptions | None, list[str]]:
    """The merged configuration and the files it came from (none: no configuration)."""
    files = config_files(explicit)
    try:
        loaded = [load_file(path) for path in files]
    except ConfigError as error:
        if explicit or not any("permission denied" in p for p in error.problems):
            raise
        hint = f" (another user's config? {ENVIRONMENT}= with nothing after it reads none)"
        raise ConfigError([p + hint for p in error.problems]) from None
    return (merge(loaded) if loaded else None), files


def merge(files: list[FileOptions]) -> FileOptions:
    """Later files over earlier ones: keys replaced, directories and budgets added."""
    merged = files[0]
    for later in files[1:]:
        update = {
            key: getattr(later, key)
            for key in later.model_fields_set
            if key not in ("directory", "budgets")
        }
        update["directory"] = [*merged.directory, *later.directory]
        update["budgets"] = {**merged.budgets, **later.budgets}
        merged = merged.model_copy(update=update)
    return merged
