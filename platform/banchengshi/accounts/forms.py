from django import forms
from django.utils.translation import gettext_lazy as _


class LoginForm(forms.Form):
    username = forms.CharField(label=_("Username"), max_length=150)
    password = forms.CharField(label=_("Password"), strip=False, widget=forms.PasswordInput)


class CodeForm(forms.Form):
    code = forms.RegexField(
        label=_("Code from your authenticator app"),
        regex=r"^\s*\d{3}\s?\d{3}\s*$",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


class RecoveryCodeForm(forms.Form):
    recovery_code = forms.CharField(
        label=_("Recovery code"), max_length=20, widget=forms.TextInput(attrs={"autocomplete": "off"})
    )


class PasswordConfirmForm(forms.Form):
    password = forms.CharField(label=_("Current password"), strip=False, widget=forms.PasswordInput)


class EnrollForm(CodeForm):
    # Asked when someone already signed in replaces their authenticator: an unlocked screen is not enough.
    password = forms.CharField(label=_("Current password"), strip=False, widget=forms.PasswordInput, required=False)
    # Asked for a first authenticator when an administrator issued one (handed over apart from the password).
    enrollment_code = forms.CharField(
        label=_("Enrollment code from your administrator"), max_length=20, required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )  # fmt: skip


class PasswordChangeForm(forms.Form):
    old_password = forms.CharField(label=_("Current password"), strip=False, widget=forms.PasswordInput)
    new_password = forms.CharField(label=_("New password"), strip=False, widget=forms.PasswordInput)
    new_password_again = forms.CharField(label=_("New password again"), strip=False, widget=forms.PasswordInput)

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if data.get("new_password") and data.get("new_password") != data.get("new_password_again"):
            self.add_error("new_password_again", _("The two new passwords differ."))
        return data
