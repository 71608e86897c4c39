"""The FHIR R4 (4.0.1) interface: Device and Location read and search under /fhir/r4/ (docs/fhir.md).

A thin caller, like the REST API: it maps assets and places to FHIR resources and reads them through the
same selectors. The tests validate what it returns with the ``fhir.resources`` package (R4B models).
"""

# ``fhir.resources`` installs a top-level package that is also called ``fhir`` (fhir/resources/...). This app
# comes first on sys.path and would hide it; extend_path adds the installed ``fhir`` directory to this
# package's path, so ``import fhir.resources`` still works wherever the package is installed.
from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)
