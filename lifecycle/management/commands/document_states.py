from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from lifecycle.statedocs import render_states_markdown


class Command(BaseCommand):
    help = "Write docs/states.md from the lifecycle state declarations and transitions (--check: only compare)."

    def add_arguments(self, parser):
        parser.add_argument("--output", default=str(Path(settings.BASE_DIR) / "docs" / "states.md"))
        parser.add_argument("--check", action="store_true", help="Exit with an error if the file is out of date.")

    def handle(self, *args, output, check, **options):
        path = Path(output)
        text = render_states_markdown()
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if check:
            if current != text:
                raise CommandError(f"{path} is out of date: run python manage.py document_states")
            self.stdout.write(f"{path} is up to date")
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        self.stdout.write(f"wrote {path}")
