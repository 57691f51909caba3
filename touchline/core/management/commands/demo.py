from django.core.management.base import BaseCommand, CommandError

from touchline.core.demo import SIZES, demo_create


class Command(BaseCommand):
    help = "Create the deterministic demo account (same size and seed, same data)."

    def add_arguments(self, parser):
        parser.add_argument("--size", choices=list(SIZES), default="small",
                            help="tiny ≈60, small ≈2k, medium ≈50k, large ≈1M contacts (default: small)")
        parser.add_argument("--seed", type=int, default=1, help="random seed (default: 1)")
        parser.add_argument("--replace", action="store_true", help="delete an existing demo account first")

    def handle(self, *args, size, seed, replace, **options):
        try:
            result = demo_create(size=size, seed=seed, replace=replace)
        except ValueError as error:
            raise CommandError(str(error)) from None
        counts = ", ".join(f"{n:,} {what}" for what, n in result.counts.items())
        self.stdout.write(f"Demo account {result.account.name!r} created: {counts}.")
        self.stdout.write(f"Log in as {result.username} / {result.password}")
