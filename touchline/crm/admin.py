from django.contrib import admin

from touchline.crm.models import Company, Contact, Deal, DealContact, DealStage, Pipeline


@admin.register(Company)
class CompanyAdmin(admin.ModelAdmin):
    list_display = ("name", "domain", "industry", "account", "created_at")
    list_filter = ("account", "industry")
    search_fields = ("name", "domain")
    raw_id_fields = ("owner",)


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ("email", "first_name", "last_name", "company", "lifecycle_stage", "account", "created_at")
    list_filter = ("account", "lifecycle_stage", "original_source")
    search_fields = ("email", "first_name", "last_name")
    raw_id_fields = ("owner", "company")


class DealContactInline(admin.TabularInline):
    model = DealContact
    raw_id_fields = ("contact",)
    extra = 0


@admin.register(Deal)
class DealAdmin(admin.ModelAdmin):
    list_display = ("name", "amount", "currency", "stage", "status", "account", "created_at", "closed_at")
    list_filter = ("account", "status", "pipeline")
    search_fields = ("name",)
    raw_id_fields = ("owner", "company")
    inlines = [DealContactInline]


class DealStageInline(admin.TabularInline):
    model = DealStage
    extra = 0


@admin.register(Pipeline)
class PipelineAdmin(admin.ModelAdmin):
    list_display = ("name", "account", "is_default")
    list_filter = ("account",)
    inlines = [DealStageInline]
