"""manage.py export_fhir --out DIR: every Location and every Device as FHIR R4 NDJSON (docs/fhir.md)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from fhir.export import export_ndjson


class Command(BaseCommand):
    help = (
        "Write FHIR R4 NDJSON (Bulk Data style) for hand-over: Location.ndjson, Device.ndjson and manifest.json. "
        "An administrator's command: it exports EVERYTHING, security fields (safety, firmware) included."
    )

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, type=Path, help="directory to write (created if missing)")

    def handle(self, *args, out: Path, **options):
        if out.exists() and not out.is_dir():
            raise CommandError(f"--out {out} exists and is not a directory")
        self.stdout.write(
            "Exporting everything: every place and every asset, security fields (safety, firmware) included, "
            "with no role check. Handle the files as confidential."
        )
        try:
            result = export_ndjson(out_dir=out)
        except OSError as exc:
            raise CommandError(f"cannot write to {out}: {exc.strerror or exc}") from None
        for kind, path in result.files.items():
            self.stdout.write(f"{path}: {result.counts[kind]} {kind} resource(s)")
        self.stdout.write(self.style.SUCCESS(f"done; {out / 'manifest.json'} lists the files"))
