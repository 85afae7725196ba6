"""Apply a change of the index settings without ever losing the old index.

What made a library's passages and vectors is recorded in it (its *recipe*:
passage size and overlap, embedder backend). When the settings ask for
another recipe, the library is brought to it *alongside* the current one,
which keeps answering searches until the new one is complete:

- a new embedder backend only changes the vectors: ``reembed.py`` embeds
  the stored passages again into a side table and swaps them in;
- a new passage size (or overlap) changes the passages themselves: a
  complete new library is built with the normal ingest path in a folder
  next to the current one (``library.next``, named by a marker file holding
  the recipe it is built for), from the same folders and files. Then,
  holding the current library's writer lock (other writers wait; readers
  go on), files changed meanwhile are caught up and the two folders are
  exchanged in one atomic ``renameat2(RENAME_EXCHANGE)``. The old folder is
  deleted only after that. Every process that has the library open notices
  the swap (the folder at the library's path is another one) and reopens it
  before its next search or write.

A cancel or a ``kill -9`` before the exchange leaves the current library as
it was; the next run carries on with the side folder (files already in it
are not indexed again). A crash after the exchange leaves the new library
in place and the old folder behind, which the next open deletes. One
rebuild runs at a time (a lock file next to the library).
"""

from __future__ import annotations

import ctypes
import dataclasses
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from desktop_app.core.jobs import CancelToken, Progress, Report, ignore_progress
from desktop_app.core.library.fsnames import to_fs
from desktop_app.core.library.recovery import LibraryError, read_folder_list, write_folder_list
from desktop_app.core.library.reembed import BACKEND_KEY, needs_reembed
from desktop_app.core.library.scan import unavailable_reason
from desktop_app.core.library.writer_lock import WriterLock
from desktop_app.core.paths import atomic_write

log = logging.getLogger(__name__)

SIDE_SUFFIX = ".next"        # the library being built alongside
LOCK_SUFFIX = ".rebuild.lock"
MARKER = "rebuild.json"      # in the side folder: the recipe it is built for
STAGE_SWAP = "swapping in the new index"
WAITING = "waiting"

_CHUNK_KEYS = ("chunk_tokens", "chunk_overlap")


@dataclass(frozen=True)
class IndexRecipe:
    """What a library's passages and vectors were made with."""

    chunk_tokens: int
    chunk_overlap: int
    embedder_backend: str

    @classmethod
    def of(cls, settings) -> "IndexRecipe":
        return cls(settings.chunk_tokens, settings.chunk_overlap, settings.embedder_backend)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def library_recipe(store, settings) -> IndexRecipe:
    """The recipe of the library in ``store``. A library that holds no file
    yet takes the settings' recipe; one from a version that did not record
    it is taken to be made with the current settings (written once, so a
    later change of the settings is seen as a change)."""
    wanted = IndexRecipe.of(settings)
    values = {key: store.meta(key) for key in (*_CHUNK_KEYS, BACKEND_KEY)}
    if store.read_only:
        return IndexRecipe(int(values["chunk_tokens"] or wanted.chunk_tokens),
                           int(values["chunk_overlap"] or wanted.chunk_overlap),
                           values[BACKEND_KEY] or wanted.embedder_backend)
    empty = store.totals()["files"] == 0
    for key, value in (("chunk_tokens", wanted.chunk_tokens), ("chunk_overlap", wanted.chunk_overlap),
                       (BACKEND_KEY, wanted.embedder_backend)):
        if values[key] is None or (empty and values[key] != str(value)):
            store.set_meta(key, value)
            values[key] = str(value)
    return IndexRecipe(int(values["chunk_tokens"]), int(values["chunk_overlap"]), values[BACKEND_KEY])


def record_recipe(store, recipe: IndexRecipe) -> None:
    store.set_meta("chunk_tokens", recipe.chunk_tokens)
    store.set_meta("chunk_overlap", recipe.chunk_overlap)
    store.set_meta(BACKEND_KEY, recipe.embedder_backend)


# ------------------------------------------------------------------- the plan

@dataclass(frozen=True)
class ReindexPlan:
    """What bringing the library to the settings' recipe takes."""

    have: IndexRecipe
    wanted: IndexRecipe
    rechunk: bool          # passages built again from the files (a new library alongside)
    reembed: bool          # vectors made again from the stored passages
    files: int
    passages: int
    resuming: bool = False  # a rebuild alongside was interrupted and carries on

    @property
    def needed(self) -> bool:
        return self.rechunk or self.reembed

    def changes(self) -> list[str]:
        out = []
        if self.have.chunk_tokens != self.wanted.chunk_tokens:
            out.append(f"passage size {self.have.chunk_tokens} → {self.wanted.chunk_tokens} tokens")
        if self.have.chunk_overlap != self.wanted.chunk_overlap:
            out.append(f"passage overlap {self.have.chunk_overlap} → {self.wanted.chunk_overlap} tokens")
        if self.have.embedder_backend != self.wanted.embedder_backend:
            out.append(f"embedding backend {self.have.embedder_backend} → {self.wanted.embedder_backend}")
        return out

    def describe(self) -> str:
        """One sentence for the user: what it costs, and that search goes on."""
        if not self.needed:
            return "The index matches the settings."
        if self.rechunk:
            what = f"re-indexes {self.files} file{'s' if self.files != 1 else ''}"
        else:
            what = f"re-embeds {self.passages} passage{'s' if self.passages != 1 else ''}"
        why = "; ".join(self.changes()) or "an earlier version's index"
        return (f"This {what} in the background ({why}); search keeps working with the current index "
                "until the new one is complete.")

    def to_dict(self) -> dict:
        return {"needed": self.needed, "rechunk": self.rechunk, "reembed": self.reembed,
                "files": self.files, "passages": self.passages, "resuming": self.resuming,
                "have": self.have.to_dict(), "wanted": self.wanted.to_dict(), "changes": self.changes(),
                "description": self.describe()}


def make_plan(have: IndexRecipe, wanted: IndexRecipe, files: int, passages: int,
              vectors_outdated: bool = False, resuming: bool = False) -> ReindexPlan:
    rechunk = files > 0 and (have.chunk_tokens, have.chunk_overlap) != (wanted.chunk_tokens,
                                                                       wanted.chunk_overlap)
    reembed = not rechunk and passages > 0 and (vectors_outdated or have.embedder_backend
                                                != wanted.embedder_backend)
    return ReindexPlan(have, wanted, rechunk, reembed, files, passages, resuming and rechunk)


def plan(library) -> ReindexPlan:
    store = library.store
    totals = store.totals()
    wanted = IndexRecipe.of(library.settings)
    side = _side_recipe(side_dir(library.library_dir))
    return make_plan(library.index_recipe(), wanted, totals["files"], totals["chunks"],
                     needs_reembed(store, wanted.embedder_backend), resuming=side == wanted)


# ----------------------------------------------------------------- the folders

def side_dir(library_dir: Path) -> Path:
    library_dir = Path(library_dir)
    return library_dir.with_name(library_dir.name + SIDE_SUFFIX)


def _lock_path(library_dir: Path) -> Path:
    library_dir = Path(library_dir)
    return library_dir.with_name(library_dir.name + LOCK_SUFFIX)


def _side_recipe(folder: Path) -> Optional[IndexRecipe]:
    try:
        data = json.loads((folder / MARKER).read_text(encoding="utf-8"))
        return IndexRecipe(**data["recipe"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_marker(folder: Path, recipe: IndexRecipe) -> None:
    with atomic_write(folder / MARKER, "w") as handle:
        json.dump({"recipe": recipe.to_dict(), "started_at": time.time()}, handle)


def _remove_tree(folder: Path) -> None:
    if folder.exists():
        log.info("removing %s", folder)
        shutil.rmtree(folder, ignore_errors=True)


def recover(library_dir: Path, wanted: Optional[IndexRecipe] = None) -> None:
    """At open: finish what a crash left of a swap, and drop a side folder
    that is not a rebuild in progress for ``wanted``. Skipped while another
    process runs a rebuild (it owns these folders)."""
    library_dir = Path(library_dir)
    side = side_dir(library_dir)
    if not side.exists():
        return
    lock = WriterLock(_lock_path(library_dir))
    try:
        if not lock.try_acquire():
            return
    except OSError:   # a read-only data folder: nothing to tidy
        return
    try:
        recipe = _side_recipe(side)
        if side.exists() and (recipe is None or (wanted is not None and recipe != wanted)):
            # No marker: the old library after a swap (or a build that never
            # began); another recipe: the settings changed again.
            _remove_tree(side)
    finally:
        lock.close()


def _exchange(a: Path, b: Path) -> None:
    """Swap two folders in one atomic step (Linux renameat2); elsewhere two
    renames, which leave ``a`` missing for an instant."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        renameat2 = None
    if renameat2 is not None:
        at_fdcwd, rename_exchange = -100, 2
        if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
            return
        err = ctypes.get_errno()
        if err not in (22, 38, 95):   # EINVAL, ENOSYS, EOPNOTSUPP: no exchange on this file system
            raise OSError(err, os.strerror(err), str(a))
    parked = a.with_name(a.name + ".old")
    os.rename(a, parked)
    os.rename(b, a)
    os.rename(parked, b)


# ------------------------------------------------------------------- the job

@dataclass
class ReindexReport:
    rechunked_files: int = 0
    reembedded: int = 0
    seconds: float = 0.0
    plan: Optional[ReindexPlan] = None

    def summary(self) -> str:
        if self.plan is None or not self.plan.needed:
            return "The index already matches the settings"
        if self.plan.rechunk:
            return f"Re-indexed {self.rechunked_files} files with the new settings in {self.seconds:.0f}s"
        return f"Re-embedded {self.reembedded} passages in {self.seconds:.0f}s"

    def to_dict(self) -> dict:
        return {"rechunked_files": self.rechunked_files, "reembedded": self.reembedded,
                "seconds": self.seconds, "plan": self.plan.to_dict() if self.plan else None,
                "summary": self.summary()}


def reindex(library, *, token: Optional[CancelToken] = None, report: Report = ignore_progress) -> ReindexReport:
    """Bring ``library`` to the recipe of its settings, alongside the current
    index (see the module doc). Raises Cancelled when ``token`` is cancelled:
    the current index is untouched and the next run carries on."""
    token = token or CancelToken()
    t0 = time.monotonic()
    lock = WriterLock(_lock_path(library.library_dir))
    try:
        lock.acquire(token, lambda message: report(Progress(WAITING, 0, None, message)))
    except OSError as exc:
        raise LibraryError(f"cannot re-index the library in {library.library_dir.parent} "
                           f"({exc.strerror or exc})") from None
    try:
        library.follow_replacement()     # another process may have finished it while we waited
        the_plan = plan(library)
        result = ReindexReport(plan=the_plan)
        if the_plan.rechunk:
            result.rechunked_files = _rebuild_alongside(library, the_plan.wanted, token, report)
        else:
            _remove_tree(side_dir(library.library_dir))   # the settings went back: nothing to finish
            if the_plan.reembed:
                result.reembedded = library.reembed(token=token, report=report)
        result.seconds = time.monotonic() - t0
        if the_plan.needed:
            log.info("reindex: %s", result.summary())
        return result
    finally:
        lock.close()


def _rebuild_alongside(library, wanted: IndexRecipe, token: CancelToken, report: Report) -> int:
    from desktop_app.core.library.library import Library

    side = side_dir(library.library_dir)
    if _side_recipe(side) != wanted:
        _remove_tree(side)
    if not side.exists():
        side.mkdir(mode=0o700)
        _write_marker(side, wanted)
    else:
        log.info("resuming the rebuild in %s", side)
    # Recorded as made by the backend that really embeds (the settings' one,
    # unless the embedder could not be switched): never a recipe that lies.
    made = dataclasses.replace(wanted, embedder_backend=getattr(library.embedder, "backend",
                                                                 wanted.embedder_backend))
    settings = dataclasses.replace(library.settings, chunk_tokens=made.chunk_tokens,
                                   chunk_overlap=made.chunk_overlap, embedder_backend=made.embedder_backend)
    new = Library(side, embedder_factory=lambda: library.embedder, settings=settings)
    try:
        record_recipe(new.store, made)
        _check_available(library)
        files = _mirror_sources(library, new, token, report).files
        token.check()
        # The catch-up and the swap hold the current library's writer lock:
        # another writer waits (and then finds the new library); searches go on.
        with library.exclusive(token, report):
            report(Progress(STAGE_SWAP, 0, None, "files changed meanwhile"))
            _check_available(library)
            files = _mirror_sources(library, new, token, report).files
            token.check()
            # Folders the saved list keeps for a rebuild (not back yet) stay in it.
            have = {s.path for s in new.store.sources()}
            write_folder_list(side, [(s.path, s.kind) for s in new.store.sources()]
                              + [(p, k) for p, k in read_folder_list(library.library_dir) if p not in have])
            new.close()
            _exchange(library.library_dir, side)
            # (A crash before this leaves a stale marker inside the library: unread there.)
            (library.library_dir / MARKER).unlink(missing_ok=True)
        library.follow_replacement()
        # Only now, with the new library complete and in use, the old one goes.
        _remove_tree(side)
        report(Progress(STAGE_SWAP, 1, 1, "done"))
        return files
    finally:
        new.close()


def _check_available(library) -> None:
    for source in library.store.sources():
        reason = unavailable_reason(source)
        if reason is not None:
            raise LibraryError(f"{source.path} cannot be read now, so its passages cannot be made again "
                               f"({reason}). The current index stays in use; connect it, or remove it "
                               "from the library, and the re-index carries on")


def _mirror_sources(library, new, token: CancelToken, report: Report):
    """Make ``new`` hold the folders and files of ``library`` (its sources
    and exclusions), indexed from the disk; incremental on a second call."""
    sources = library.store.sources()
    wanted = {s.path for s in sources}
    for stale in new.store.sources():
        if stale.path not in wanted:
            new.remove(to_fs(stale.path), token=token)
    have = {s.path for s in new.store.sources()}
    # Folders first: a file inside a folder becomes part of it.
    for source in sorted(sources, key=lambda s: s.kind != "folder"):
        if source.path not in have:
            new.store.add_source(source.path, source.kind)
    excluded = library.store.exclusions()
    for path in excluded - new.store.exclusions():
        new.store.add_exclusion(path)
    if not sources:
        from desktop_app.core.library.ingest import IngestReport

        return IngestReport()
    return new.add([to_fs(s.path) for s in sources], token=token, report=report)
