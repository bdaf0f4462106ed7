"""Service: consent, complaints, loan progress notices, service flags, SLAs in working days."""


def register(appbuilder) -> None:
    from backoffice.service import counter, dashboard, flags
    from backoffice.service.views import register as register_views

    register_views(appbuilder)
    counter.register(appbuilder)
    dashboard.install()
    flags.register_customer_panels()
