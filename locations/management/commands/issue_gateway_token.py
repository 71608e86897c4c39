from django.core.management.base import BaseCommand, CommandError

from locations.ingest.auth import GatewayTokenError, gateway_token_issue


class Command(BaseCommand):
    help = (
        "Issue a gateway token and print it once (only its SHA-256 is stored). "
        "GATEWAY_ID: a token for that one receiver; --site SITE: a collector token for any gateway of the site."
    )

    def add_arguments(self, parser):
        parser.add_argument("gateway_id", nargs="?", metavar="GATEWAY_ID")
        parser.add_argument("--site", metavar="SITE", help="site code, for a site collector token")
        parser.add_argument("--label", default="", help="a note for the admin, e.g. where the gateway hangs")

    def handle(self, *args, gateway_id=None, site=None, label="", **options):
        if (gateway_id is None) == (site is None):
            raise CommandError("give a GATEWAY_ID or --site SITE (one of them)")
        try:
            issued = gateway_token_issue(gateway_id=gateway_id, site=site, label=label)
        except GatewayTokenError as exc:
            raise CommandError(str(exc)) from None
        scope = f"gateway {gateway_id}" if gateway_id else f"every gateway of site {site}"
        self.stderr.write(f"Token for {scope} (key {issued.token.key}). It is shown once; store it in the gateway:")
        self.stdout.write(issued.raw)
