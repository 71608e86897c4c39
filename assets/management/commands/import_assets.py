from django.core.management.base import BaseCommand, CommandError

from lifecycle.asset_import import AssetImportError, assets_import


class Command(BaseCommand):
    help = "Import assets from CSV (asset_tag,asset_type,tag_id,manufacturer,model,serial_number,...). All or nothing."

    def add_arguments(self, parser):
        parser.add_argument("file", metavar="FILE.csv")

    def handle(self, *args, file, **options):
        def progress(done, total):
            self.stderr.write(f"  {done}/{total} rows")

        try:
            with open(file, encoding="utf-8-sig", newline="") as stream:
                result = assets_import(stream=stream, progress=progress)
        except FileNotFoundError:
            raise CommandError(f"{file}: file not found") from None
        except UnicodeDecodeError:
            raise CommandError(f"{file}: the file is not UTF-8 text; nothing was imported") from None
        except AssetImportError as exc:
            for error in exc.errors:
                self.stderr.write(self.style.ERROR(error))
            raise CommandError(str(exc)) from None
        summary = f"Assets: {result.created} created, {result.updated} updated, {result.unchanged} unchanged"
        if result.asset_types_created:
            summary += f"; new asset types: {', '.join(result.asset_types_created)}"
        summary += f"; tags registered: {result.tags_registered}, bound: {result.tags_bound}"
        self.stdout.write(self.style.SUCCESS(summary))
