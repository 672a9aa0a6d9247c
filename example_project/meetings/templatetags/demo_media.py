"""``{{ url|cloud }}``: the cloud a media URL points to; ``{{ url|link }}``: a redirect link's path. For thumbnails,
whose URLs come from sorl-thumbnail's tag."""

from django import template

from ..views import cloud_of, link_path

register = template.Library()


@register.filter
def cloud(url: str) -> str:
    return cloud_of(url)


@register.filter
def link(url: str) -> str:
    return link_path(url)
