from django.core.management.base import BaseCommand, CommandError

from locations.services import FloorplanImportError, floorplan_import, load_floorplan_files


class Command(BaseCommand):
    help = "Import floor plans (GeoJSON, one file per floor). All or nothing; re-running changes nothing."

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", metavar="FILE")

    def handle(self, *args, files, **options):
        documents, errors = load_floorplan_files(files)
        try:
            if errors:
                raise FloorplanImportError(errors)
            result = floorplan_import(documents=documents, progress=lambda line: self.stderr.write(f"  {line}"))
        except FloorplanImportError as exc:
            for error in exc.errors:
                self.stderr.write(self.style.ERROR(error))
            raise CommandError(str(exc)) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {len(result.floors)} floor(s): rooms {result.rooms}; receivers {result.receivers}"
            )
        )
