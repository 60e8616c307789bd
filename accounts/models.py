from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower

from accounts.validators import validate_hub_name, validate_not_reserved


class User(AbstractUser):
    username = models.CharField(
        max_length=96,
        unique=True,
        validators=[validate_hub_name, validate_not_reserved],
        error_messages={"unique": "A user with that username already exists."},
    )
    full_name = models.CharField(max_length=150, blank=True)
    bio = models.TextField(blank=True)
    storage_quota_bytes = models.PositiveBigIntegerField(
        "storage quota (bytes)",
        null=True,
        blank=True,
        help_text="What this user's repositories may store, e.g. 10737418240 for 10 GiB. "
        "Empty: the default, FLYWHEEL_USER_QUOTA_BYTES.",
    )
    # Consent: ratings of a person who opted out are left out of every feedback snapshot built afterwards.
    training_data_opt_out = models.BooleanField(
        "don't use my ratings for training data",
        default=False,
        help_text="Your ratings and corrections are left out of the datasets built from feedback from now on.",
    )

    class Meta:
        constraints = [models.UniqueConstraint(Lower("username"), name="user_username_ci_unique")]

    @property
    def display_name(self) -> str:
        return self.full_name or self.username


class Organization(models.Model):
    name = models.CharField(max_length=96, unique=True, validators=[validate_hub_name, validate_not_reserved])
    full_name = models.CharField(max_length=150, blank=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    storage_quota_bytes = models.PositiveBigIntegerField(
        "storage quota (bytes)",
        null=True,
        blank=True,
        help_text="What this organisation's repositories may store, e.g. 1099511627776 for 1 TiB. "
        "Empty: the default, FLYWHEEL_ORG_QUOTA_BYTES.",
    )
    members = models.ManyToManyField(User, through="Membership", related_name="organizations")

    class Meta:
        verbose_name = "organisation"
        ordering = ["name"]
        constraints = [models.UniqueConstraint(Lower("name"), name="organization_name_ci_unique")]

    def __str__(self) -> str:
        return self.name

    @property
    def display_name(self) -> str:
        return self.full_name or self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        ADMIN = "admin", "Admin"
        WRITE = "write", "Write"
        READ = "read", "Read"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=8, choices=Role.choices, default=Role.READ)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "user"], name="membership_unique")]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.role})"

    @property
    def can_write(self) -> bool:
        return self.role in (self.Role.ADMIN, self.Role.WRITE)


class ApiTokenQuerySet(models.QuerySet):
    def active(self) -> ApiTokenQuerySet:
        return self.filter(revoked_at__isnull=True)


class ApiToken(models.Model):
    """A personal access token. Only its SHA-256 is stored; the secret is shown once."""

    class Scope(models.TextChoices):
        READ = "read", "Read"
        WRITE = "write", "Write"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    scope = models.CharField(max_length=8, choices=Scope.choices, default=Scope.READ)
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12, help_text="The first characters, to recognise a token.")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        verbose_name = "API token"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def can_write(self) -> bool:
        return self.scope == self.Scope.WRITE
