"""One name, one key, in every cloud: a name is stored under the same key everywhere, or refused before any request."""

from __future__ import annotations

import pytest
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from multicloud_storage.names import canonical

from .conftest import fetch

LEADING_DOTS = [".txt", ".well-known/assets.json", "dir/.hidden", "a/.b/c.txt", "_.txt", "-dash.txt"]
REFUSED = ["report.", "dir/...", "a/.../b.txt", "x/./.", "trailing/", "nul\x00", "c1\x85control", "\ufffe", "\ud800x"]


@pytest.mark.parametrize("name", LEADING_DOTS)
def test_names_with_leading_dots_are_the_same_key_in_both_clouds(env, name):
    storage = env.install("both")
    saved = storage.save(name, ContentFile(name.encode()))
    assert saved == name
    assert env.s3_keys() == env.azure_names() == {name}
    assert env.s3_bytes(name) == env.azure_bytes(name) == name.encode()
    for cloud in ("s3", "azure"):
        assert fetch(storage.url(name, locations={cloud})) == (200, name.encode())


@pytest.mark.parametrize("name", REFUSED)
def test_names_a_cloud_would_store_differently_are_refused_before_any_request(env, name):
    storage = env.install("both")
    before = (env.s3_proxy.accepted, env.azure_proxy.accepted)
    with pytest.raises(SuspiciousFileOperation):
        storage.save(name, ContentFile(b"x"))
    assert (env.s3_proxy.accepted, env.azure_proxy.accepted) == before
    assert env.s3_keys() == set() and env.azure_names() == set()


def test_report_dot_never_overwrites_report_in_azure(env):
    """The review's case: with file_overwrite, a save of 'report.' replaced Azure's 'report'."""
    storage = env.install("both", file_overwrite=True)
    storage.save("report", ContentFile(b"the report"))
    with pytest.raises(SuspiciousFileOperation):
        storage.save("report.", ContentFile(b"another file"))
    assert env.s3_bytes("report") == env.azure_bytes("report") == b"the report"
    env.s3_proxy.set("refuse")
    assert storage.open("report").read() == b"the report"


def test_listdir_shows_the_names_that_were_saved(env):
    storage = env.install("both")
    for name in (".env.example", "d/.keep", "d/x.txt"):
        storage.save(name, ContentFile(b"x"))
    assert storage.listdir("") == (["d"], [".env.example"])
    assert storage.listdir("d") == ([], [".keep", "x.txt"])
    env.s3_proxy.set("refuse")  # Azure alone lists the same
    assert storage.listdir("d") == ([], [".keep", "x.txt"])


def test_canonical_normalises_like_django_storages_in_both_clouds():
    assert canonical("a//b.txt") == "a/b.txt"
    assert canonical("a\\b.txt") == "a/b.txt"
    assert canonical("./a.txt") == "a.txt"
    with pytest.raises(SuspiciousFileOperation):
        canonical("a/../b.txt")  # Django refuses any '..' segment
    with pytest.raises(SuspiciousFileOperation):
        canonical("x" * 1000, prefix_bytes=30)  # the location counts toward the 1024 bytes


NAME_CHARS = st.one_of(
    st.characters(codec="utf-8"),  # any encodable character, controls and noncharacters included
    st.sampled_from(["/", ".", "..", " ", "\u200f", "\u202e", "\u0301", "🎥", "%", "+", "#", "?", "&", "~", "\\"]),
)
NAMES = st.one_of(
    st.lists(NAME_CHARS, min_size=1, max_size=40).map("".join),
    st.builds(lambda n, tail: "x" * n + tail, st.integers(1000, 1100), st.text(max_size=3)),  # around the limit
    st.just("/etc/passwd"),
    st.just("../../up"),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=NAMES)
def test_any_name_is_refused_before_any_request_or_round_trips_from_both_clouds(env, name):
    storage = env.install("both")
    body = f"body of {name!r}".encode("utf-8", "surrogatepass")
    before = (env.s3_proxy.accepted, env.azure_proxy.accepted, env.s3_keys(), env.azure_names())
    try:
        saved = storage.save_mirrored(name, ContentFile(body))
    except SuspiciousFileOperation:
        assert (env.s3_proxy.accepted, env.azure_proxy.accepted, env.s3_keys(), env.azure_names()) == before
        return
    assert saved.locations == {"s3", "azure"}
    assert saved.name == canonical(saved.name)
    assert env.s3_bytes(saved.name) == env.azure_bytes(saved.name) == body
    for cloud in ("s3", "azure"):
        assert fetch(storage.url(saved.name, locations={cloud})) == (200, body), cloud
