"""Extensions as module-level objects, bound to an app in ``create_app``.

Flask-SQLAlchemy shares FAB's metadata (DESIGN pitfall 1) so that Alembic sees one schema.
The AppBuilder is *not* module-level: each app gets its own (pitfall 2); read it from
``current_app.appbuilder``.
"""
from flask_appbuilder import Model
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

db = SQLAlchemy(metadata=Model.metadata)
migrate = Migrate()
# Every state-changing screen request (forms, deletes, bulk actions) needs a CSRF token; FAB
# alone only protects WTForms forms, not its delete and action_post routes.
csrf = CSRFProtect()
