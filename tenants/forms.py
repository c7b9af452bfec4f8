"""Forms of the provincial console (input only; the services hold the rules)."""

from django import forms
from django.utils.translation import gettext_lazy as _

from banchengshi.accounts.models import PlatformRole
from tenants.services import BREAK_GLASS_MAX_MINUTES


class OnboardForm(forms.Form):
    yaml_file = forms.FileField(label=_("Configuration file (YAML)"), required=False)
    yaml_text = forms.CharField(
        label=_("or paste the configuration"), widget=forms.Textarea(attrs={"rows": 14}), required=False
    )

    def clean(self) -> dict:
        data = super().clean() or {}
        upload = data.get("yaml_file")
        text = upload.read().decode("utf-8", errors="replace") if upload else data.get("yaml_text", "")
        if not text.strip():
            raise forms.ValidationError(_("Upload a configuration file or paste one."))
        data["text"] = text
        data["source"] = upload.name if upload else "console.yaml"
        return data


class BatchForm(forms.Form):
    csv_file = forms.FileField(label=_("Counties (CSV: code,name…)"))
    template_file = forms.FileField(label=_("Template configuration (YAML)"))


class ConfigForm(forms.Form):
    yaml_text = forms.CharField(label=_("Configuration"), widget=forms.Textarea(attrs={"rows": 24}))
    note = forms.CharField(label=_("Note"), max_length=255, required=False)


class SuspendForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=500)


class CountyAdminForm(forms.Form):
    username = forms.CharField(label=_("User name"), max_length=150)
    name = forms.CharField(label=_("Name"), max_length=64)
    password = forms.CharField(label=_("Initial password"), widget=forms.PasswordInput, min_length=10)


class OperatorForm(CountyAdminForm):
    # 三权分立: each account holds one of the three roles.
    role = forms.ChoiceField(label=_("Role"), choices=PlatformRole.choices, initial=PlatformRole.OPERATOR)


class BreakGlassForm(forms.Form):
    reason = forms.CharField(label=_("Reason (ticket, request)"), widget=forms.Textarea(attrs={"rows": 3}))
    minutes = forms.IntegerField(label=_("Minutes"), min_value=1, max_value=BREAK_GLASS_MAX_MINUTES, initial=30)
