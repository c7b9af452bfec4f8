from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "banchengshi.core"
    label = "core"
    verbose_name = "Platform core"
