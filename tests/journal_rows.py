"""A journal's rows as one hash: what "identical journals" means in the determinism tests (SQLite
files are not byte-stable: their headers and WAL follow the writer's batching; their rows are)."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path


def journal_rows_hash(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return hashlib.sha256("\n".join(conn.iterdump()).encode()).hexdigest()
    finally:
        conn.close()
