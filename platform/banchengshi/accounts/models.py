from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _


class User(AbstractUser):
    """A person who signs in: a provincial operator (public schema) or county staff (county schema).

    The table exists in every schema, so an account belongs to exactly one county or to the
    province, and the same username in two counties is two unrelated people.
    """

    # Chinese names are not split into first and last name.
    name = models.CharField(_("name"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return self.name or self.username
