"""WSGI entry point: ``gunicorn wsgi:app``."""
import gc

from backoffice import create_app

app = create_app()

# The application built above (mappers, compiled templates, translations, routes: some
# hundreds of thousands of objects) lives as long as the process. Frozen, the cyclic garbage
# collector no longer walks it at each full collection: a full collection of the unfrozen
# heap cost a list page's worth of CPU several times over, once every few hundred requests.
gc.collect()
gc.freeze()
