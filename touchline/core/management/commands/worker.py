from django_tasks_db.management.commands.db_worker import Command as DatabaseWorkerCommand

from touchline.core.periodic import Ticker


class Command(DatabaseWorkerCommand):
    help = ("Run the background task worker (django-tasks-db) on every queue unless --queue-name is given, with "
            "the ticker that enqueues periodic work (the sequence engine's tick).")

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.set_defaults(queue_name="*")
        parser.add_argument("--no-ticker", action="store_true", help="don't enqueue periodic tasks from here")

    def handle(self, *args, no_ticker: bool = False, **options):
        if not no_ticker:
            Ticker().start()
        return super().handle(*args, **options)
