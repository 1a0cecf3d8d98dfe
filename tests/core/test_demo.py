"""The demo loader finds each app's part through the app registry, in dependency order."""

from core.demo import demo_loaders


def test_demo_loaders_are_the_apps_in_dependency_order():
    assert [config.name for config in demo_loaders()] == [
        "registry",
        "claims",
        "settlement",
        "aid",
        "payments",
        "dashboards",
    ]
