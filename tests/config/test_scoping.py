import pytest
from django.http import Http404

from assistants.models import Assistant
from config.identity import Principal

pytestmark = pytest.mark.django_db

ALICE = Principal("acme", "alice")
BOB = Principal("acme", "bob")
EVE_OTHER_TENANT = Principal("globex", "alice")


@pytest.fixture
def alices():
    assistant = Assistant(name="mine")
    assistant.assign_owner(ALICE)
    assistant.save()
    return assistant


def test_owner_sees_object(alices):
    assert Assistant.objects.get_visible_or_404(ALICE, pk=alices.pk) == alices


@pytest.mark.parametrize("other", [BOB, EVE_OTHER_TENANT], ids=["same-tenant-user", "same-user-id-other-tenant"])
def test_other_principal_gets_404(alices, other):
    with pytest.raises(Http404):
        Assistant.objects.get_visible_or_404(other, pk=alices.pk)
    assert list(Assistant.objects.visible_to(other)) == []


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "", "1; drop table x"])
def test_malformed_ids_are_404_not_500(alices, bad_id):
    with pytest.raises(Http404):
        Assistant.objects.get_visible_or_404(ALICE, pk=bad_id)


def test_public_assistant_readable_within_tenant_only(alices):
    alices.public = True
    alices.save()
    assert list(Assistant.objects.readable_by(BOB)) == [alices]
    assert list(Assistant.objects.readable_by(EVE_OTHER_TENANT)) == []
