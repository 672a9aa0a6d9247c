# The models as they were before multicloud_storage: no mirror-location columns yet.
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Recording",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("title", models.CharField(max_length=200)),
                ("file", models.FileField(upload_to="recordings/")),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
        ),
        migrations.CreateModel(
            name="BotDebugScreenshot",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("caption", models.CharField(max_length=200)),
                ("image", models.ImageField(upload_to="screenshots/")),
                ("debug_video", models.FileField(blank=True, upload_to="debug-videos/")),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
        ),
    ]
