"""Admin pages for campaigns and their labels (staff see everything here)."""
from django.contrib import admin

from annotation.models import AddedReason, Assignment, Campaign, Item, LabelHistory, ReasonVerdict


class ItemInline(admin.TabularInline):
    model = Item
    extra = 0
    fields = ["position", "query", "passage", "overlap", "completed_count", "is_gold", "gold_grade", "final_grade"]
    raw_id_fields = ["query", "passage"]
    readonly_fields = ["completed_count"]
    show_change_link = True


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "task", "collection", "overlap", "blind", "status", "created_at"]
    list_filter = ["kind", "task", "status", "blind"]
    search_fields = ["name"]
    filter_horizontal = ["annotators"]
    raw_id_fields = ["analysis", "reference_assessor"]
    inlines = [ItemInline]


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ["pk", "campaign", "query", "passage", "completed_count", "overlap", "is_gold", "final_grade"]
    list_filter = ["campaign", "is_gold"]
    raw_id_fields = ["query", "passage", "adjudicated_by"]


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ["pk", "item", "user", "status", "grade", "confidence", "seconds_spent", "submitted_at"]
    list_filter = ["status", "item__campaign"]
    raw_id_fields = ["item", "user"]


@admin.register(ReasonVerdict)
class ReasonVerdictAdmin(admin.ModelAdmin):
    list_display = ["assignment", "reason", "verdict", "category"]
    list_filter = ["verdict"]
    raw_id_fields = ["assignment", "reason"]


@admin.register(AddedReason)
class AddedReasonAdmin(admin.ModelAdmin):
    list_display = ["assignment", "text", "category"]
    raw_id_fields = ["assignment"]


@admin.register(LabelHistory)
class LabelHistoryAdmin(admin.ModelAdmin):
    list_display = ["at", "user", "action", "target", "before", "after"]
    list_filter = ["action"]
    raw_id_fields = ["item", "assignment"]

    def has_change_permission(self, request, obj=None) -> bool:  # the history is append-only
        return False
