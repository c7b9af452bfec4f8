from django.urls import path

from casework import views

urlpatterns = [
    path("", views.county_home, name="home"),
]
