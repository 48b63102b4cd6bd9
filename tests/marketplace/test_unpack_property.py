"""Property test of the unpacker: whatever the member names, nothing it accepts can land outside the package."""

from __future__ import annotations

import tarfile
from pathlib import Path, PurePosixPath

from hypothesis import given, settings
from hypothesis import strategies as st

from hololoom_core.marketplace.errors import MarketplaceError
from hololoom_core.marketplace.unpack import ALLOWED_KINDS, ROOT_FILES, check_member

PARTS = st.sampled_from(["..", ".", "", "workflows", "runbooks", "aliases", "patterns", "etc", "a.yaml", "b.md",
                         "c.py", "/", "\\", "C:", "x.yml", "..yaml", "~", "hololoom-package.yaml"])
NAMES = st.lists(PARTS, min_size=1, max_size=5).map("/".join)
KINDS = st.sampled_from([tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE,
                         tarfile.FIFOTYPE])


@settings(max_examples=400, deadline=None)
@given(name=NAMES, kind=KINDS)
def test_accepted_members_stay_inside(name: str, kind: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = "../../etc/passwd" if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE) else ""
    try:
        clean = check_member(info, "prop")
    except MarketplaceError as exc:
        assert "\n" not in str(exc)
        return
    if clean is None:  # a plain directory entry: nothing is written for it
        assert kind == tarfile.DIRTYPE
        return
    assert kind == tarfile.REGTYPE
    destination = Path("/srv/staging")
    resolved = (destination / clean).resolve()
    assert destination in resolved.parents
    parts = PurePosixPath(clean).parts
    assert clean in ROOT_FILES or (len(parts) == 2 and parts[0] in ALLOWED_KINDS)
