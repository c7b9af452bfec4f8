from django.urls import path

from notifications import views

urlpatterns = [
    path("inbox/", views.inbox_page, name="inbox"),
    path("inbox/<uuid:notification_id>/read/", views.inbox_read, name="inbox-read"),
]
