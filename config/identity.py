"""Who is asking, and the one way to scope data to them.

A principal is (tenant, user id). Every owned model inherits `OwnedModel`, whose manager offers
`visible_to(principal)`; views reach objects only through it, so another owner's object is a 404.
"""

from dataclasses import dataclass

from django.db import models
from django.http import Http404


@dataclass(frozen=True)
class Principal:
    tenant: str
    user_id: str
    source: str = "unknown"  # api_key, jwt, session, dev
    can_act_for_any_tenant: bool = False
    # The tenant-admin role: may create, change and delete the tenant's data sources (DESIGN §9).
    # From the API key's role, the JWT's role claim, a staff login, or development auth.
    is_tenant_admin: bool = False

    # DRF treats request.user as a user object; a principal is always an authenticated one.
    is_authenticated = True
    is_anonymous = False

    def __str__(self) -> str:
        return f"{self.tenant}/{self.user_id}"

    def acting_for(self, tenant: str | None) -> "Principal":
        """The same principal acting inside `tenant`, if it may; PermissionError otherwise."""
        if not tenant or tenant == self.tenant:
            return self
        if not self.can_act_for_any_tenant:
            raise PermissionError(f"principal may not act for tenant {tenant!r}")
        return Principal(
            tenant=tenant, user_id=self.user_id, source=self.source, can_act_for_any_tenant=True, is_tenant_admin=self.is_tenant_admin
        )


class OwnedQuerySet(models.QuerySet):
    def visible_to(self, principal: Principal):
        return self.filter(tenant=principal.tenant, owner=principal.user_id)

    def get_visible_or_404(self, principal: Principal, **lookup):
        try:
            return self.visible_to(principal).get(**lookup)
        except (self.model.DoesNotExist, ValueError, TypeError):
            # ValueError/TypeError: a malformed id (e.g. not a UUID) is as unknown as a missing one.
            raise Http404(f"{self.model._meta.verbose_name} not found") from None
        except Exception as exc:  # ValidationError from UUIDField.to_python on bad input
            from django.core.exceptions import ValidationError

            if isinstance(exc, ValidationError):
                raise Http404(f"{self.model._meta.verbose_name} not found") from None
            raise


class OwnedModel(models.Model):
    tenant = models.CharField(max_length=100, db_index=True)
    owner = models.CharField(max_length=200, db_index=True, help_text="user id within the tenant")

    objects = OwnedQuerySet.as_manager()

    class Meta:
        abstract = True

    def assign_owner(self, principal: Principal) -> None:
        self.tenant = principal.tenant
        self.owner = principal.user_id

    def is_owned_by(self, principal: Principal) -> bool:
        return self.tenant == principal.tenant and self.owner == principal.user_id
