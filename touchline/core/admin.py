from django.contrib import admin

from touchline.core.models import Account, Membership


class MembershipInline(admin.TabularInline):
    model = Membership
    raw_id_fields = ("user",)
    extra = 0


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ("name", "plan", "time_zone", "created_at")
    list_filter = ("plan",)
    search_fields = ("name",)
    inlines = [MembershipInline]
