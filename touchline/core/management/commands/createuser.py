import getpass

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from touchline.core.accounts import account_create, user_create
from touchline.core.models import Account, Plan, Role


class Command(BaseCommand):
    help = "Create a user who belongs to an existing account (--account) or to a new one (--new-account)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--email", required=True)
        parser.add_argument("--password", help="omit to be asked twice (nothing echoed)")
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument("--account", help="name or id of an existing account")
        group.add_argument("--new-account", help="name of an account to create")
        parser.add_argument("--plan", choices=Plan.values, default=Plan.PROFESSIONAL, help="plan of a new account")
        parser.add_argument("--role", choices=Role.values, default=Role.ADMIN)
        parser.add_argument("--staff", action="store_true", help="may use the Django admin (all accounts)")

    def handle(self, *args, username, email, password, account, new_account, plan, role, staff, **options):
        if get_user_model().objects.filter(username=username).exists():
            raise CommandError(f"a user named {username!r} already exists")
        existing = None
        if account is not None:
            existing = Account.objects.filter(pk=int(account)).first() if account.isdigit() else None
            existing = existing or Account.objects.filter(name=account).first()
            if existing is None:
                raise CommandError(f"no account named {account!r}; `touchline createuser --new-account NAME` makes one")
        if password is None:
            password = getpass.getpass("Password: ")
            if getpass.getpass("Password (again): ") != password:
                raise CommandError("the passwords do not match")
        try:
            validate_password(password, get_user_model()(username=username, email=email))
        except ValidationError as error:
            raise CommandError("password refused: " + " ".join(error.messages)) from None
        with transaction.atomic():
            target = existing or account_create(name=new_account, plan=plan)
            user = user_create(username=username, email=email, password=password, account=target, role=role)
            if staff:
                user.is_staff = True
                user.save(update_fields=["is_staff"])
        self.stdout.write(f"User {username!r} created in {target.name!r} as {role}.")
