"""Settings classes for the back office.

Why classes plus environment: the embedded default must run with nothing configured (SQLite under
``instance/``, jobs inline), while production takes every secret and address from the environment
(``DATABASE_URL``, ``REDIS_URL``, ``SECRET_KEY`` and any ``CRM_*`` override), never from a file in
the repository.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path

from flask_babel import lazy_gettext as _l

ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = Path(os.environ.get("CRM_INSTANCE_PATH", ROOT / "instance"))


def _instance_secret(name: str) -> str:
    """Return a secret kept under ``instance/``, generating it on first use.

    The embedded default has no environment to read secrets from, yet sessions must survive a
    restart, so the secret is generated once and kept with owner-only permissions.
    """
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    path = INSTANCE_DIR / name
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def is_production(config) -> bool:
    """Whether the app runs in production mode (``CRM_ENV``): missing keys then stop start-up
    instead of being generated into the instance folder."""
    return (config.get("CRM_ENV") or os.environ.get("CRM_ENV", "embedded")) == "production"


def write_once(path: Path, text: str) -> bool:
    """Create ``path`` holding ``text``, owner-only, unless it exists (True if this call made it).

    Exclusive creation, so that two processes starting at once agree on one generated key:
    the loser reads the winner's file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return True


class BaseConfig:
    """Settings shared by every mode."""

    APP_NAME = _l("Bank customer back office")
    APP_THEME = ""
    FAB_BASE_TEMPLATE = "crm_base.html"
    FAB_UPDATE_PERMS = False  # permissions are synced by `flask crm init`, not at boot
    FAB_CREATE_DB = False
    FAB_ADD_SECURITY_API = False
    FAB_API_SWAGGER_UI = False  # the Swagger UI page loads its assets from a CDN
    FAB_API_MAX_PAGE_SIZE = 100
    FAB_SECURITY_MANAGER_CLASS = "backoffice.security.manager.CrmSecurityManager"
    FAB_INDEX_VIEW = "backoffice.home.HomeView"
    AUTH_TYPE = 1  # AUTH_DB
    AUTH_ROLE_ADMIN = "Admin"
    AUTH_ROLE_PUBLIC = "Public"
    AUTH_USER_REGISTRATION = False
    RATELIMIT_ENABLED = False
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    WTF_CSRF_ENABLED = True
    BABEL_DEFAULT_LOCALE = "zh"
    BABEL_DEFAULT_TIMEZONE = "UTC"
    BABEL_TRANSLATION_DIRECTORIES = str(ROOT / "backoffice" / "translations")
    LANGUAGES = {
        "zh": {"flag": "cn", "name": "中文"},
        "en": {"flag": "gb", "name": "English"},
    }
    CRM_DISPLAY_TIMEZONE = "Asia/Shanghai"  # dates and times on screens, reports and due dates
    CRM_MAX_PAGE_SIZE = 100  # most rows one list page or API page may ask for
    CRM_QUEUE_NAME = "crm"  # the RQ queue jobs are sent to and workers listen on
    CRM_JOB_TIMEOUT = 3600  # seconds a queued job may run before RQ stops it
    REDIS_URL = None
    JWT_ACCESS_TOKEN_EXPIRES = 900
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    # --- Logins and sessions (issue 3: backoffice/security/login_policy.py, sessions.py,
    # headers.py, passwords.py, agreement.py). Every CRM_* value can be set in the environment.
    CRM_LOGIN_MAX_FAILURES = 5  # wrong passwords in a row before the account locks
    CRM_LOCKOUT_MINUTES = 30  # how long a lockout lasts
    CRM_PASSWORD_MIN_LENGTH = 12  # characters a new password needs at least
    CRM_PASSWORD_MIN_SCORE = 3  # zxcvbn guessability score (0-4) a password must reach
    FAB_PASSWORD_COMPLEXITY_ENABLED = True  # FAB's add-user / reset-password forms use ...
    # ... the bank's policy, named by dotted path (config/ imports nothing from backoffice; the
    # app factory resolves it to the function).
    FAB_PASSWORD_COMPLEXITY_VALIDATOR = "backoffice.security.passwords.fab_password_validator"
    CRM_SESSION_IDLE_MINUTES = 30  # signed out after this long without a request
    CRM_SESSION_ABSOLUTE_HOURS = 12  # signed out this long after login, active or not
    # API refresh tokens last no longer than a screen session (access tokens: 15 minutes).
    JWT_REFRESH_TOKEN_EXPIRES = 12 * 3600
    # Cookies only over HTTPS? False here because the embedded default is served over plain
    # http on 127.0.0.1, where a Secure cookie would never come back and login would loop;
    # ProductionConfig turns it on. CRM_SECURE_COOKIES=true|false overrides both cookies.
    SESSION_COOKIE_SECURE = False
    CRM_SECURE_COOKIES = None  # unset: the mode decides (see above)
    # FAB logs in without "remember me"; should a remember cookie ever be set, it gets the same
    # flags and cannot outlive the absolute session limit.
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SECURE = False
    REMEMBER_COOKIE_DURATION = 12 * 3600
    # Strict-Transport-Security max-age; 0 sends no header (plain http). Production: one year.
    CRM_HSTS_SECONDS = 0
    # --- Message channels (backoffice/messaging/channels/). E-mail through SMTP,
    # SMS through an HTTP gateway (POST of CRM_SMS_PAYLOAD, a JSON object whose strings may hold
    # {mobile}, {text}, {message_id}). Unset host/URL: that channel's sends fail visibly.
    CRM_SMTP_HOST = None
    CRM_SMTP_PORT = 25  # the SMTP server's port
    CRM_SMTP_TLS = "none"  # none | starttls | ssl
    CRM_SMTP_USERNAME = None  # unset: no SMTP login
    CRM_SMTP_PASSWORD = None  # from the environment in production
    CRM_SMTP_SENDER = "noreply@bank.example"  # the From address of e-mails
    CRM_SMTP_TIMEOUT = 30  # seconds to wait for the SMTP server
    # --- A bank's first day (backoffice/security/set_password.py): how long a new user's
    # one-time set-password link works, and the address the CLI prints it under.
    CRM_SET_PASSWORD_HOURS = 72
    CRM_BASE_URL = None  # e.g. https://crm.bank.example; unset: a path only
    CRM_SMS_GATEWAY_URL = None  # the SMS gateway's HTTP endpoint; unset: SMS sends fail visibly
    CRM_SMS_PAYLOAD = None  # default {"mobile": "{mobile}", "text": "{text}", ...}
    CRM_SMS_HEADERS = None  # e.g. {"Authorization": "Bearer ..."}
    CRM_SMS_TIMEOUT = 15  # seconds to wait for the SMS gateway
    CRM_GREETING_LEASE_SECONDS = 300  # a "sending" row older than this was left by a dead worker
    CRM_GREETING_BATCH = 20  # rows claimed at a time
    CRM_GREETING_RETRY_SECONDS = 300  # first retry after this, doubling each attempt
    CRM_GREETING_MAX_ATTEMPTS = 5  # sends tried before a greeting is marked failed
    # Staff notification digests (backoffice.notifications.digest): one e-mail per member and day.
    CRM_NOTIFICATION_DIGEST_LEASE_SECONDS = 300  # a "sending" digest older than this was orphaned
    # --- Operation log (backoffice/audit/chain_key.py, checkpoints.py). The chain key (base64 of
    # 32 random bytes) keys every row hash; kept apart from the database. Unset: the embedded
    # default generates instance/audit_chain_key, production refuses to start.
    CRM_AUDIT_CHAIN_KEY = None
    # Folder (outside the database, ideally write-once) for `flask crm audit checkpoint`'s signed
    # heads, which `flask crm audit verify` checks. Unset: verify checks the chain only.
    CRM_AUDIT_CHECKPOINT_DIR = None
    # Service levels in Chinese working days (backoffice/service/sla.py): task type -> days.
    CRM_SLA_WORKING_DAYS = None  # overrides e.g. {"inquiry_answer": 1, "complaint_resolution": 5}
    # --- Hostile import files (backoffice/imports/xlsx_checks.py, sandbox.py, reading.py): checked
    # before parsing; workbooks then parse in a child process under a memory and a CPU limit.
    CRM_IMPORT_MAX_ZIP_MEMBERS = 1000  # parts an XLSX zip may hold (a workbook has ~10-50)
    CRM_IMPORT_MAX_MEMBER_MB = 2048  # declared unpacked size of one part of the zip
    CRM_IMPORT_MAX_UNZIPPED_MB = 4096  # declared unpacked size of all parts together
    CRM_IMPORT_MAX_ZIP_RATIO = 300  # unpacked / stored size of a part over 1 MiB (bombs: ~1000)
    CRM_IMPORT_MAX_SHARED_STRINGS_MB = 512  # the workbook's shared-strings part, unpacked
    CRM_IMPORT_MAX_CELLS = 30_000_000  # rows x columns a sheet may declare in <dimension>
    CRM_IMPORT_MAX_COLUMNS = 1024  # columns of a sheet or of a CSV header
    CRM_IMPORT_MAX_LINE_CHARS = 4_194_304  # characters of one CSV line (one cell: 1 MiB at most)
    CRM_IMPORT_PARSE_MEMORY_MB = 4096  # address space (RLIMIT_AS) of the workbook-parsing child
    CRM_IMPORT_PARSE_SECONDS = 600  # CPU seconds of that child, and the longest wait for its rows
    # Days an import's stored files (upload, error report, preview) are kept, then deleted by
    # `flask crm imports purge` (backoffice/imports/retention.py); 0 keeps them.
    CRM_IMPORT_FILE_RETENTION_DAYS = 90
    # A customer row whose gender disagrees with its PRC ID number's 17th digit (odd: male):
    # "refuse" rejects the row; "from_id" takes the ID number's gender, writes the row and
    # counts it among the batch's warnings (backoffice/imports/rows.py).
    CRM_IMPORT_GENDER_RULE = "refuse"
    # A "running" import whose job wrote no heartbeat for this long lost its process or machine
    # and becomes "interrupted" (backoffice/imports/liveness.py): checked when the batch is read
    # on the screen or the command line, and by `flask crm imports sweep`. Keep it well above
    # the time one chunk takes.
    CRM_IMPORT_HEARTBEAT_TIMEOUT_SECONDS = 300
    # Customers a campaign's target or control group needs before its evaluation gives a
    # verdict on the uplift; below it the screen and `flask crm campaign evaluate` say "too few
    # to tell", and the launch warns when the split would leave a group this small
    # (backoffice/campaigns/stats.py, service.py).
    CRM_UPLIFT_MIN_GROUP = 30
    # --- Settings read where they are used (each module named); declared here so that this class
    # lists everything an operator can set, with the default the code runs with.
    CRM_LIST_COUNT_CAP = 1_000  # lists count at most this many matches, then show "1000+"
    CRM_LIST_NUMBERED_ROWS = 500  # rows reachable by numbered pages; past them, next/previous
    CRM_LIST_MAX_OFFSET = 10_000  # most rows a list or API page may skip (backoffice/datamodel.py)
    CRM_EXPORT_MAX_ROWS = 10_000  # larger exports need an approved request (backoffice/exports.py)
    CRM_EXPORT_APPROVAL_HOURS = 24  # an approved export's file can be downloaded for this long
    CRM_AUDIT_RETENTION_DAYS = 365  # operation-log rows older than this are archived
    CRM_IMPORT_FOLDER = None  # shared folder for uploaded import files; unset: in the database
    CRM_IMPORT_CHUNK_SIZE = 10_000  # rows an import reads, checks and writes at a time
    CRM_IMPORT_CHUNK_PAUSE = 0  # seconds an import rests between chunks (a busy database)
    CRM_IMPORT_APPROVAL_ROWS = 5_000  # larger import batches wait for a senior manager's approval
    CRM_IMPORT_DEFAULT_BRANCH = None  # branch code for imported customers naming none; unset: first
    CRM_IMPORT_REQUIRE_ID_NUMBER = False  # must every imported customer row carry an ID number?
    CRM_IMPORT_REVERT_DAYS = 7  # days a committed import batch may still be reverted
    CRM_RISK_ASSESSMENT_VALIDITY_DAYS = 365  # a risk assessment older than this fails suitability
    CRM_CAMPAIGN_MESSAGE_BATCH = 50  # campaign messages claimed at a time by the sending job
    CRM_CAMPAIGN_MESSAGE_LEASE_SECONDS = 300  # a "sending" message older than this is retaken
    CRM_CAMPAIGN_MESSAGE_RETRY_SECONDS = 300  # first retry after this, doubling each attempt
    CRM_CAMPAIGN_MESSAGE_MAX_ATTEMPTS = 5  # sends tried before a campaign message is marked failed
    CRM_WECHAT_GATEWAY_URL = None  # the WeChat relay's endpoint; unset: WeChat sends fail visibly
    CRM_WECHAT_TEMPLATE_ID = None  # the official account's template-message id; unset: relay's own
    CRM_WECHAT_PAYLOAD = None  # JSON; default {"mobile", "template_id", "data": {"content"}, ...}
    CRM_WECHAT_HEADERS = None  # e.g. {"Authorization": "Bearer ..."} for the relay
    CRM_WECHAT_TIMEOUT = 15  # seconds to wait for the WeChat relay
    CRM_CHURN_RISK_BANDS = None  # overrides of the churn risk bands, e.g. {"high": 0.5}
    CRM_CHURN_VALUE_BANDS = None  # overrides of the value bands (backoffice/churn/rules.py)
    CRM_CHURN_DUE_WORKING_DAYS = None  # retention-task due days per tier, e.g. {"P1": 2}
    CRM_CHURN_WORK_MEM = "256MB"  # PostgreSQL work_mem for the churn feature staging queries
    # Outbound webhooks (backoffice/webhooks/sending.py): HTTP timeout, retries with backoff.
    CRM_WEBHOOK_TIMEOUT = 10  # seconds to connect to and to wait for a webhook's receiver
    CRM_WEBHOOK_RETRY_SECONDS = 60  # first retry after this, doubling each attempt
    CRM_WEBHOOK_MAX_ATTEMPTS = 8  # POSTs tried before a delivery is marked failed
    CRM_WEBHOOK_LEASE_SECONDS = 300  # a "sending" delivery older than this is retaken
    CRM_WEBHOOK_BATCH = 20  # deliveries claimed at a time
    CRM_CONTENT_SECURITY_POLICY = None  # replaces the screens' CSP header; unset: the built-in one
    CRM_DATAWALL_REFRESH_SECONDS = 60  # the data wall fetches its figures again this often
    CRM_COMMENT_EDIT_MINUTES = 15  # minutes an author may still edit or delete their own comment
    # Field-encryption keys (backoffice/security/keys.py): a JSON object of key id -> base64 key,
    # the id new values are sealed with, and the blind-index key for exact search. Unset: the
    # embedded default keeps generated keys under instance/, production refuses to start.
    CRM_ENCRYPTION_KEYS = None
    CRM_PRIMARY_KEY_ID = None  # the key id new values are sealed with
    CRM_BLIND_INDEX_KEY = None  # base64 key of the HMAC behind exact search by ID number / mobile


class EmbeddedConfig(BaseConfig):
    """`make run` on a laptop: SQLite under instance/, jobs inline, generated secret."""

    @property
    def SQLALCHEMY_DATABASE_URI(self) -> str:  # noqa: N802 - Flask setting name
        INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{INSTANCE_DIR / 'crm.sqlite3'}"

    @property
    def SECRET_KEY(self) -> str:  # noqa: N802 - Flask setting name
        return _instance_secret("secret_key")


class ProductionConfig(BaseConfig):
    """PostgreSQL and RQ workers; every secret from the environment."""

    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    CRM_HSTS_SECONDS = 31536000


class TestingConfig(BaseConfig):
    """The pytest suite: database from CRM_TEST_DATABASE_URL (else SQLite in a temp file)."""

    TESTING = True
    SECRET_KEY = "test-secret-key-not-for-production"
    SERVER_NAME = None


def crm_environment(environ=None) -> dict:
    """Settings given as ``CRM_*`` environment variables, values parsed as JSON where they parse.

    The key keeps its ``CRM_`` prefix (``CRM_MAX_PAGE_SIZE=50`` sets ``CRM_MAX_PAGE_SIZE``), so
    the name an operator exports is the name the code reads.
    """
    import json

    settings = {}
    for name, raw in (environ if environ is not None else os.environ).items():
        if not name.startswith("CRM_") or name in _NOT_SETTINGS:
            continue
        try:
            settings[name] = json.loads(raw)
        except ValueError:
            settings[name] = raw
    return settings


# Environment switches, not settings: the mode, the instance folder and the test services.
_NOT_SETTINGS = {"CRM_ENV", "CRM_INSTANCE_PATH", "CRM_TEST_DATABASE_URL", "CRM_TEST_REDIS_URL"}


def load_settings(app, config=None) -> None:
    """Fill ``app.config`` from a settings class, then the environment, then ``config``.

    ``config`` may be a class, an object or a mapping (tests pass a dict). Environment variables
    win over the class so that production needs no code change; an explicit ``config`` wins over
    everything so that tests are hermetic.
    """
    mode = os.environ.get("CRM_ENV", "embedded")
    base = {"production": ProductionConfig, "testing": TestingConfig}.get(mode, EmbeddedConfig)
    overrides = config if isinstance(config, dict) else None
    if config is not None and overrides is None:
        base = config
    app.config.from_object(base() if isinstance(base, type) else base)
    for env_name, key in (
        ("DATABASE_URL", "SQLALCHEMY_DATABASE_URI"),
        ("REDIS_URL", "REDIS_URL"),
        ("SECRET_KEY", "SECRET_KEY"),
    ):
        if os.environ.get(env_name):
            app.config[key] = os.environ[env_name]
    app.config.update(crm_environment())
    if overrides:
        app.config.update(overrides)
    if not app.config.get("SECRET_KEY"):
        raise RuntimeError("SECRET_KEY must be set in the environment in production mode")
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        raise RuntimeError("DATABASE_URL must be set in the environment in production mode")
