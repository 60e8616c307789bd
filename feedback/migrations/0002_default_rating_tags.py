from django.db import migrations

DEFAULT_TAGS = [
    ("helpful", "Helpful", False),
    ("correct", "Correct", False),
    ("creative", "Creative", False),
    ("incorrect", "Incorrect", True),
    ("harmful", "Harmful", True),
    ("off-topic", "Off-topic", True),
    ("too-long", "Too long", True),
    ("too-short", "Too short", True),
    ("repetitive", "Repetitive", True),
]


def add_tags(apps, schema_editor):
    RatingTag = apps.get_model("feedback", "RatingTag")
    for position, (slug, label, negative) in enumerate(DEFAULT_TAGS):
        RatingTag.objects.get_or_create(slug=slug, defaults={"label": label, "negative": negative, "position": position})


class Migration(migrations.Migration):
    dependencies = [("feedback", "0001_initial")]
    operations = [migrations.RunPython(add_tags, migrations.RunPython.noop)]
