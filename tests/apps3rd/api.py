"""A Django REST framework API over Photo, as a project using django-storages would write it."""

from rest_framework import routers, serializers, viewsets
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser

from .models import Photo


class PhotoSerializer(serializers.ModelSerializer):
    class Meta:
        model = Photo
        fields = ["id", "title", "image", "image_mirrors"]


class PhotoViewSet(viewsets.ModelViewSet):
    queryset = Photo.objects.all()
    serializer_class = PhotoSerializer
    parser_classes = [MultiPartParser, FormParser, JSONParser]
    authentication_classes: list = []  # an open test API: no session, so no CSRF check


router = routers.DefaultRouter()
router.register("photos", PhotoViewSet)
urlpatterns = router.urls
