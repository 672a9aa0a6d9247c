from django import forms

from .models import BotDebugScreenshot, Recording


class RecordingForm(forms.ModelForm):
    class Meta:
        model = Recording
        fields = ["title", "file"]


class ScreenshotForm(forms.ModelForm):
    class Meta:
        model = BotDebugScreenshot
        fields = ["caption", "image", "debug_video"]
