from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FhirConfig(AppConfig):
    name = "fhir"
    label = "fhir_r4"
    verbose_name = _("FHIR R4 interface")
