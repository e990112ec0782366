"""On SQLite, reads take no write lock: they nest, and a writer proceeds while a reader is open."""

from __future__ import annotations

import os
import threading

from sqlalchemy import text

from harbourmaster.services.core import Harbourmaster


def test_reads_nest_and_do_not_block_a_writer() -> None:
    hm = Harbourmaster.from_environ(dict(os.environ))
    hm.init()
    with hm.store.read() as outer:
        before = outer.governance.revision()
        with hm.store.read() as inner:
            assert inner.governance.revision() == before
        done = threading.Event()

        def write() -> None:
            with hm.db.transaction() as session:
                session.execute(text("UPDATE meta SET value = value WHERE key = 'revision'"))
            done.set()

        writer = threading.Thread(target=write)
        writer.start()
        assert done.wait(timeout=10), "a writer must not wait for an open reader"
        writer.join()
        # The reader keeps its snapshot.
        assert outer.governance.revision() == before
