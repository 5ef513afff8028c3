import uuid

from django.db import migrations, models


def create_identity(apps, schema_editor):
    Deployment = apps.get_model("executor", "Deployment")
    if not Deployment.objects.exists():
        Deployment.objects.create(id=uuid.uuid4())


class Migration(migrations.Migration):
    dependencies = [("executor", "0001_initial")]

    operations = [
        migrations.CreateModel(
            name="Deployment",
            fields=[
                ("id", models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={"db_table": "querent_deployment"},
        ),
        migrations.RunPython(create_identity, migrations.RunPython.noop),
    ]
