"""Where the configuration comes from: `--config FILE`, else `$CKPTGUARD_CONFIG`, else
`/etc/ckptguard/ckptguard.toml`; and the drop-ins in `conf.d/*.toml` beside the latter two.

Drop-ins are read in name order after the main file, in the manner of `logrotate.d` and
`tmpfiles.d`: a top-level key set in a later file wins, `[[directory]]` entries add up,
and `[budgets]` entries are merged by name. `--config FILE` reads FILE alone.
"""

from __future__ import annotations

import glob
import os

from ckptguard.face.config import FileOptions, load_file

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
    files = [main] if named or _readable(main) else []
    drop_ins = os.path.join(os.path.dirname(os.path.abspath(main)), "conf.d", "*.toml")
    return files + [path for path in sorted(glob.glob(drop_ins)) if _readable(path)]


def _readable(path: str) -> bool:
    """A file at the default places that this user may not read (a root-only config,
    for the root service) is not this user's configuration: skipped, not an error."""
    return os.path.isfile(path) and os.access(path, os.R_OK)


def load_config(explicit: str | None) -> tuple[FileOptions | None, list[str]]:
    """The merged configuration and the files it came from (none: no configuration)."""
    files = config_files(explicit)
    loaded = [load_file(path) for path in files]
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
