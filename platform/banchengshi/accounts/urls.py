from django.urls import path

from banchengshi.accounts import views

urlpatterns = [
    path("login/", views.login_page, name="login"),
    path("login/verify/", views.two_factor_verify, name="two-factor-verify"),
    path("two-factor/", views.two_factor_setup, name="two-factor-setup"),
    path("recovery-codes/", views.recovery_codes_page, name="recovery-codes"),
    path("password/", views.password_change_page, name="password-change"),
    path("logout/", views.logout_page, name="logout"),
]
