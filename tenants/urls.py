from django.urls import path

from tenants import views

urlpatterns = [
    path("", views.console_home, name="home"),
]
