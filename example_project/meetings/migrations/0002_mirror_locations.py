# Adopting multicloud_storage: one column per file field. Existing rows stay NULL (unknown) and keep working.
import multicloud_storage.fields
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("meetings", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="recording",
            name="mirrors",
            field=multicloud_storage.fields.MirrorLocationField(file_field="file"),
        ),
        migrations.AddField(
            model_name="botdebugscreenshot",
            name="image_locations",
            field=multicloud_storage.fields.MirrorLocationField(file_field="image"),
        ),
        migrations.AddField(
            model_name="botdebugscreenshot",
            name="debug_video_locations",
            field=multicloud_storage.fields.MirrorLocationField(file_field="debug_video"),
        ),
    ]
