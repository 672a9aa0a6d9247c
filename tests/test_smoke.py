from django.core.files.base import ContentFile

from .conftest import fetch


def test_smoke(env):
    storage = env.install("both")
    name = storage.save("hello.txt", ContentFile(b"hello world"))
    assert env.s3_keys() == {name}
    assert env.azure_names() == {name}
    url = storage.url(name)
    print(url)
    assert fetch(url) == (200, b"hello world")
    az = storage.clouds["azure"].sign_url(name, 60)
    print(az)
    assert fetch(az) == (200, b"hello world")
