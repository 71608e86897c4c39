from django.core.exceptions import ValidationError
from django.db import models

from declarations.tag_ids import TagIdError, normalize_tag_id


class TagIdField(models.CharField):
    """Stores a BLE tag id as 12 lowercase hex characters, and normalises lookups the same way,
    so ``Tag.objects.get(tag_id="C3:00:00:00:01:0A")`` finds ``c3000000010a``."""

    def __init__(self, *args, **kwargs):
        kwargs["max_length"] = 12
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("max_length", None)
        return name, path, args, kwargs

    def to_python(self, value):
        value = super().to_python(value)
        if value in (None, ""):
            return value
        try:
            return normalize_tag_id(value)
        except TagIdError as exc:
            raise ValidationError(str(exc), code="invalid_tag_id") from None

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if isinstance(value, str) and value:
            try:
                return normalize_tag_id(value)
            except TagIdError:
                return value  # lookups with a malformed id simply find nothing
        return value

    def pre_save(self, model_instance, add):
        value = getattr(model_instance, self.attname)
        if value:
            value = normalize_tag_id(value)
            setattr(model_instance, self.attname, value)
        return value
