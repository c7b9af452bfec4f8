from django.urls import path

from banchengshi.audit import views

urlpatterns = [
    path("", views.audit_page, name="audit-page"),
]
