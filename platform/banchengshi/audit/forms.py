from django import forms
from django.utils.translation import gettext_lazy as _

from banchengshi.audit.models import Outcome


class AuditFilterForm(forms.Form):
    action = forms.CharField(label=_("action"), required=False, max_length=64)
    actor = forms.CharField(label=_("actor"), required=False, max_length=150)
    object_type = forms.CharField(label=_("object type"), required=False, max_length=64)
    object_id = forms.CharField(label=_("object id"), required=False, max_length=64)
    outcome = forms.ChoiceField(label=_("outcome"), required=False, choices=[("", "—"), *Outcome.choices])
    source_address = forms.CharField(label=_("source address"), required=False, max_length=64)
    since = forms.DateTimeField(label=_("from"), required=False)
    until = forms.DateTimeField(label=_("until"), required=False)
