"""The run directory: atomic writes, hashes, the manifest and the quarantine.

Every file is written under a temporary name and renamed into place, so a
reader (or a resumed run) never sees half a file. The manifest is rewritten
the same way after every change of a stage's status.

Everything in a run directory is readable by its owner only (files 0600,
folders 0700), whatever the caller's umask: records hold personal data until
`redact` has run, and the split's Arrow files hold the training texts.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import stat
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from pipeline.errors import InputError

MANIFEST = "manifest.json"
PARTIAL_SUFFIX = ".partial"
HASH_CHUNK = 1 << 20
PRIVATE_UMASK = 0o077
PRIVATE_FILE_MODE, PRIVATE_DIR_MODE = 0o600, 0o700


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_json(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path`, on failure it is removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=PARTIAL_SUFFIX, dir=path.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_json(path: Path, value: Any) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False) + "\n", encoding="utf-8")


class RunDir:
    """A run's folder: stage outputs, `quarantine/`, and `manifest.json`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, relative: str) -> Path:
        return self.root / relative

    def read_manifest(self) -> dict[str, Any]:
        path = self.path(MANIFEST)
        if not path.is_file():
            return {}
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            raise InputError(
                f"{path} is not valid JSON; it was edited by hand or damaged. Move it away to start the run afresh"
            ) from None

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        write_json(self.path(MANIFEST), manifest)

    def remove_partials(self) -> list[Path]:
        """Delete temporary files a killed process left behind; return what was removed."""
        leftovers = sorted(self.root.rglob(f"*{PARTIAL_SUFFIX}"))
        for leftover in leftovers:
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)
        return leftovers

    def output_hashes(self, relatives: list[str]) -> dict[str, dict[str, Any]]:
        return {
            rel: {"sha256": sha256_file(self.path(rel)), "bytes": self.path(rel).stat().st_size} for rel in relatives
        }

    def outputs_intact(self, outputs: dict[str, dict[str, Any]]) -> bool:
        """True when every recorded output exists and still has its recorded hash."""
        for relative, recorded in outputs.items():
            path = self.path(relative)
            if (
                not path.is_file()
                or path.stat().st_size != recorded["bytes"]
                or sha256_file(path) != recorded["sha256"]
            ):
                return False
        return True

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold an exclusive lock on the run directory, or fail at once if another process holds it.

        While it is held, the process creates files owner-only; on release,
        anything a writer outside this process made (a Ray worker) is made
        owner-only too.
        """
        with owner_only(self.root):
            self.root.mkdir(parents=True, exist_ok=True)
            with self.path(".lock").open("w") as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    raise InputError(
                        f"run directory {self.root} is in use by another pipeline process; wait for it or pass another --run-dir"
                    ) from None
                try:
                    yield
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def owner_only(root: Path) -> Iterator[None]:
    """Create files owner-only while the block runs (the umask is per process), then tighten any left open under `root`."""
    previous = os.umask(PRIVATE_UMASK)
    try:
        yield
    finally:
        os.umask(previous)
        restrict_modes(root)


def restrict_modes(root: Path) -> None:
    """Make every file under `root` 0600 and every folder 0700 (symbolic links are left alone)."""
    if not root.is_dir():
        return
    for folder, _subfolders, files in os.walk(root):
        _set_mode(Path(folder), PRIVATE_DIR_MODE)
        for name in files:
            _set_mode(Path(folder) / name, PRIVATE_FILE_MODE)


def _set_mode(path: Path, mode: int) -> None:
    try:
        current = path.lstat()
        if not stat.S_ISLNK(current.st_mode) and stat.S_IMODE(current.st_mode) != mode:
            path.chmod(mode)
    except FileNotFoundError:  # removed meanwhile (a partial file of a killed writer)
        pass


class Quarantine:
    """Collects the rows a stage takes off the main path, in `quarantine/<stage>.jsonl`.

    Each line: `row_id`, `stage`, `reason`, `detail`, plus any location fields.
    Details must describe the problem (field names, counts, positions), never
    quote the row's values.
    """

    def __init__(self, run_dir: RunDir, stage: str) -> None:
        self.relative = f"quarantine/{stage}.jsonl"
        self.stage = stage
        self.counts: Counter[str] = Counter()
        self._target = run_dir.path(self.relative)
        self._writer: Any = None
        self._handle: IO[str] | None = None

    def __enter__(self) -> Quarantine:
        self._writer = atomic_path(self._target)
        self._handle = self._writer.__enter__().open("w", encoding="utf-8")
        return self

    def add(self, row_id: str, reason: str, detail: str, **location: Any) -> None:
        assert self._handle is not None, "use Quarantine as a context manager"
        entry = {"row_id": row_id, "stage": self.stage, "reason": reason, "detail": detail, **location}
        self._handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
        self.counts[reason] += 1

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def __exit__(self, *exc_info: Any) -> None:
        assert self._handle is not None
        self._handle.close()
        self._writer.__exit__(*exc_info)
