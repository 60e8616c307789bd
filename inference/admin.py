from django.contrib import admin

from inference.models import Generation


@admin.register(Generation)
class GenerationAdmin(admin.ModelAdmin):
    list_display = ("created_at", "repository", "short_commit", "user", "source", "status", "completion_tokens")
    list_filter = ("status", "source", "created_at")
    search_fields = ("repository__namespace", "repository__name", "commit__oid", "user__username", "prompt")
    list_select_related = ("repository", "commit", "user")
    raw_id_fields = ("user", "repository", "commit")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in Generation._meta.fields]

    @admin.display(description="commit")
    def short_commit(self, generation: Generation) -> str:
        return generation.commit.oid[:10]

    def has_add_permission(self, request) -> bool:
        return False
