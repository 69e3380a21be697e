"""Errors raised by the results store."""

from __future__ import annotations


class StoreError(RuntimeError):
    """The results database cannot be used as asked (locked, corrupt, bad SQL, ...)."""


class StoreLockedError(StoreError):
    """Another process holds the write lock on the results database.

    DuckDB allows one writing process per database file (readers may share it only while
    nobody writes).  Attributes: ``path`` (the database file) and ``pid`` (the process
    holding the lock, when DuckDB reports it).
    """

    def __init__(self, message: str, *, path: str, pid: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.pid = pid


class UnknownRunError(StoreError, LookupError):
    """No run with this id (or no table with this name in the run)."""
