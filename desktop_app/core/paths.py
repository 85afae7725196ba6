"""Where Hearth keeps things. All user state lives in the data dir, never
under the install dir; everything Hearth creates there is user-only."""

from __future__ import annotations

import errno
import logging
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator, Optional

import platformdirs

APP_DIR_NAME = "Hearth"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
RESOURCES_DIR = PROJECT_ROOT / "resources"
PROJECT_MODELS_DIR = PROJECT_ROOT / "models"

log = logging.getLogger(__name__)


class DataDirError(Exception):
    """The data dir cannot be used at all; the message says why, in one sentence."""


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) with 0700; an existing folder open to
    others is tightened. Never adds a permission: a folder the user made
    read-only stays read-only."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        mode = os.stat(path).st_mode & 0o777
        if mode & 0o077:
            os.chmod(path, mode & 0o700)
    except OSError:   # not ours, or a read-only mount: leave it as it is
        pass
    return path


def _writable(folder: Path) -> bool:
    return os.access(folder, os.W_OK | os.X_OK)


@contextmanager
def atomic_write(path: Path, mode: str = "wb") -> Iterator:
    """Write into a scratch file beside ``path`` and rename it over
    ``path`` only when the block finishes without an exception, so a crash or
    a cancel never leaves a half-written file under the real name."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.fchmod(fd, 0o600)
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


@dataclass(frozen=True)
class AppPaths:
    data_dir: Path
    config_dir: Path
    # True when the data dir exists but cannot be written (a read-only
    # mount, a folder without write permission): what reads still works.
    read_only: bool = False

    @classmethod
    def default(cls) -> "AppPaths":
        return cls(
            data_dir=Path(platformdirs.user_data_dir(APP_DIR_NAME, appauthor=False)),
            config_dir=Path(platformdirs.user_config_dir(APP_DIR_NAME, appauthor=False)),
        )

    @classmethod
    def at(cls, data_dir: Optional[os.PathLike]) -> "AppPaths":
        """``--data-dir DIR`` keeps *all* state (settings included) under DIR."""
        if data_dir is None:
            return cls.default()
        root = Path(data_dir).expanduser().resolve()
        return cls(data_dir=root, config_dir=root / "config")

    def ensure(self) -> "AppPaths":
        """Create the folders; raises DataDirError when the data dir cannot
        be used, returns a ``read_only`` copy when it can only be read."""
        # Anything we create is user-only: a library is private data.
        os.umask(0o077)
        if self.data_dir.exists() and not self.data_dir.is_dir():
            raise DataDirError(f"{self.data_dir} is a file, not a folder: give --data-dir a folder "
                               "(it is created if it does not exist)")
        if self.data_dir.is_dir() and not _writable(self.data_dir):
            log.warning("data folder %s is read-only: reading only", self.data_dir)
            return replace(self, read_only=True)
        try:
            for folder in (self.data_dir, self.config_dir, self.library_dir,
                           self.models_dir, self.conversations_dir, self.logs_dir):
                ensure_private_dir(folder)
        except OSError as exc:
            if self.data_dir.is_dir() and exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
                return replace(self, read_only=True)
            where = exc.filename or self.data_dir
            if isinstance(exc, (FileExistsError, NotADirectoryError)):
                raise DataDirError(f"{where} is a file where Hearth needs a folder: give --data-dir "
                                   "another folder") from None
            raise DataDirError(f"cannot create the data folder {where}: {exc.strerror or exc}") from None
        return self

    @property
    def library_dir(self) -> Path:
        return self.data_dir / "library"

    @property
    def models_dir(self) -> Path:
        """The user's models dir: the assembled default model and variants."""
        return self.data_dir / "models"

    @property
    def conversations_dir(self) -> Path:
        return self.data_dir / "conversations"

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def log_file(self) -> Path:
        return self.logs_dir / "hearth.log"

    @property
    def settings_file(self) -> Path:
        return self.config_dir / "settings.json"
