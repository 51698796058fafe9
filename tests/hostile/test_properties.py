"""Property-based: parsers of hostile text (tar names and headers, references, Link and
WWW-Authenticate headers, .dive-ci files) answer or raise a clear error, for any input."""

from __future__ import annotations

import os
import posixpath

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from urllib3 import HTTPHeaderDict

from layerlab.errors import LayerlabError
from layerlab.sources.layerfiles.tarheader import clean_path, climbs_out, parse_headers
from layerlab.sources.layerfiles.tarsplit import TARSPLIT_ERRORS
from layerlab.sources.registry.auth import Challenge

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
names = st.lists(st.sampled_from(["..", ".", "", "a", "etc", "shadow", "b c", "\\xff", "\n"]), max_size=8).map("/".join)


@SETTINGS
@given(st.one_of(names, st.text(max_size=60)))
def test_clean_path_is_rooted_and_never_climbs(name):
    path = clean_path(name)
    assert path.startswith("/") and not path.startswith("//")
    assert ".." not in path.split("/")
    # Go's filepath.Clean of the rooted name, as Docker's extraction computes it
    assert path == "/" + posixpath.normpath("/" + name).lstrip("/")


@SETTINGS
@given(names)
def test_climbs_out_is_exactly_escaping_the_root(name):
    # a name climbs out iff joining it under a root and cleaning leaves that root
    joined = posixpath.normpath("/root/layer/" + name)  # Go's filepath.Join: no reset on a leading /
    assert climbs_out(name) == (not (joined + "/").startswith("/root/layer/"))


@SETTINGS
@given(st.binary(max_size=2048))
def test_tar_headers_parse_or_fail_clearly(raw):
    try:
        parse_headers(raw)
    except TARSPLIT_ERRORS:
        pass  # the layer is skipped with this reason


@SETTINGS
@given(st.text(max_size=200))
def test_www_authenticate_never_tracebacks(header):
    c = Challenge.parse(header)
    assert c is None or (isinstance(c.scheme, str) and isinstance(c.params, dict) and isinstance(c.scopes, list))


@SETTINGS
@given(st.text(max_size=200))
def test_link_headers_never_traceback(link):
    from layerlab.sources.registry.client import _next_link

    class Answer:  # the one attribute _next_link reads of a urllib3 response
        headers = HTTPHeaderDict({"Link": link})

    nxt = _next_link(Answer())
    assert nxt is None or isinstance(nxt, str)


@SETTINGS
@given(st.text(max_size=120))
def test_references_parse_or_raise_a_clear_error(text):
    from layerlab.oci.reference import Reference

    try:
        ref = Reference.parse(text)
    except (LayerlabError, ValueError):
        return
    assert str(ref)


@SETTINGS
@given(st.one_of(st.binary(max_size=400), st.text(max_size=400).map(str.encode)))
def test_dive_ci_files_load_or_raise_a_rule_error(tmp_path_factory, raw):
    from layerlab.analyses.dive.check import load_rules

    path = tmp_path_factory.mktemp("rules") / ".dive-ci"
    path.write_bytes(raw)
    try:
        rules = load_rules(path)
    except LayerlabError:
        return
    assert isinstance(rules, dict)


# Names built mostly from the pieces that make escapes ambiguous: backslashes, x, hex digits, bad bytes.
name_bytes = st.lists(st.one_of(st.sampled_from([b"\\", b"x", b"f", b"8", b"2d", b"\xff", b"\x80", b"\xc3",
                                                 b"\xa9", b"/", b"a", b"\n", b"\t", b"\r"]),
                                st.binary(min_size=1, max_size=3)), max_size=10).map(b"".join)


@SETTINGS
@given(st.lists(name_bytes.map(lambda b: b.replace(b"\0", b"")), min_size=1, max_size=8, unique=True))
def test_distinct_names_get_distinct_paths_and_their_bytes_back(raw_names):
    from layerlab.sources.layerfiles.rows import exact_paths, unescape_name

    paths, raw = exact_paths([os.fsdecode(b) for b in raw_names])
    assert len(set(paths)) == len(raw_names)  # the (layer, path) key stays unique
    for i, (b, p) in enumerate(zip(raw_names, paths)):
        assert unescape_name(p) == b
        assert p.encode("utf-8") == b or (raw is not None and raw[i] == b)
        if raw is not None and raw[i] is None:
            assert p.encode("utf-8") == b
