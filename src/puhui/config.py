"""Settings, read once from the environment (prefix ``PUHUI_``) and from ``.env``.

Invariant: outside ``PUHUI_ENV=development`` the platform refuses to start with the
well-known development secret, so a demo key can never reach production by accident.
"""

from __future__ import annotations

from datetime import date, time
from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEVELOPMENT_SECRET = "puhui-development-secret-do-not-use-in-production"  # noqa: S105


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PUHUI_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    env: Literal["development", "test", "production"] = Field(
        "production", description="`development` allows the demo secret; anything else refuses it."
    )
    data_dir: Path = Field(Path("var"), description="Lake, snapshot, uploads and generated files.")
    database_url: str = Field(
        "", description="SQLAlchemy URL; empty means SQLite at DATA_DIR/puhui.db."
    )
    secret_key: str = Field(
        DEVELOPMENT_SECRET, description="Signs CSRF tokens; at least 32 characters."
    )
    host: str = Field("127.0.0.1", description="Address `puhui serve` listens on.")
    port: int = Field(8000, ge=1, le=65535, description="Port `puhui serve` listens on.")
    default_locale: Literal["zh_CN", "en"] = Field(
        "zh_CN", description="UI language when the user has not chosen one."
    )
    session_idle_minutes: int = Field(30, ge=1, description="Web session inactivity limit.")
    session_absolute_hours: int = Field(12, ge=1, description="Web session absolute limit.")
    token_hours: int = Field(8, ge=1, description="Lifetime of API bearer tokens.")
    login_max_failures: int = Field(5, ge=1, description="Failed log-ins before lock-out.")
    lockout_minutes: int = Field(30, ge=1, description="How long a locked account stays locked.")
    otp_ttl_minutes: int = Field(10, ge=1, description="Validity of one-time codes.")
    cookie_secure: bool = Field(False, description="Mark cookies Secure (set behind TLS).")
    db_pool_size: int = Field(
        10, ge=1, le=500, description="Database connections a process keeps open."
    )
    db_max_overflow: int = Field(
        20, ge=0, le=500, description="Extra connections a process may open under load."
    )
    in_process_worker: bool | None = Field(
        None,
        description="Run the job worker inside `puhui serve` (default: on for SQLite only).",
    )
    worker_poll_seconds: float = Field(1.0, gt=0, description="Idle worker poll interval.")
    job_lease_seconds: int = Field(
        300, ge=1, description="A running job whose worker is silent this long is run again."
    )
    job_max_attempts: int = Field(6, ge=1, description="Attempts before a job is dead.")
    argon2_time_cost: int = Field(3, ge=1, description="Argon2id passes for password hashes.")
    argon2_memory_kib: int = Field(65536, ge=8, description="Argon2id memory for password hashes.")
    lake_footer_cache_row_groups: int = Field(
        16_384,
        ge=0,
        description=(
            "Parsed Parquet footers a serving process keeps for profile reads, in row groups "
            "(~4.5 KB each); with the history index only files newer than it are read."
        ),
    )
    matching_contact_working_days: int = Field(
        1,
        ge=1,
        le=10,
        description="Working days a bank has to contact an enterprise after a claim.",
    )
    matching_outcome_days: int = Field(
        7, ge=1, le=90, description="Days a bank has to reach an outcome after a claim."
    )
    matching_remind_hours: int = Field(
        4, ge=1, le=72, description="Hours before a claim deadline both sides are reminded."
    )
    matching_demand_days: int = Field(
        30, ge=1, le=365, description="Days an unserved demand stays open in the pool."
    )
    matching_holidays: list[date] = Field(
        default_factory=list,
        description="Public holidays skipped by working-day deadlines (JSON list of dates).",
    )
    download_daily_rows: int = Field(
        100_000,
        ge=0,
        description="Rows one institution may batch-download per day (Shanghai time), all users.",
    )
    download_retention_days: int = Field(
        7, ge=1, description="Days a batch download package stays available for re-download."
    )
    acquisition_export_daily_rows: int = Field(
        5000,
        ge=0,
        description="Lead rows one institution may export per day (Shanghai time), all users.",
    )
    acquisition_invitations_daily: int = Field(
        200, ge=0, description="Invitations one institution may send per day."
    )
    acquisition_invitation_days: int = Field(
        14, ge=1, le=90, description="Days an invitation waits for the enterprise's answer."
    )
    acquisition_reinvite_days: int = Field(
        30,
        ge=0,
        le=365,
        description="Days after an enterprise declined before the same institution may ask again.",
    )
    wechat_token: str | None = Field(
        None,
        description=(
            "The token set in the WeChat official account's server configuration; "
            "inbound messages are refused without it."
        ),
    )
    sms_gateway: Literal["log", "smpp"] = Field(
        "log", description="SMS gateway: `log` (development console) or `smpp` (SMPP 3.4)."
    )
    smpp_host: str = Field("127.0.0.1", description="SMSC host of the SMPP gateway.")
    smpp_port: int = Field(2775, ge=1, le=65535, description="SMSC port of the SMPP gateway.")
    smpp_system_id: str = Field("", max_length=15, description="SMPP bind system_id.")
    smpp_password: str = Field("", max_length=8, description="SMPP bind password.")
    smpp_system_type: str = Field("", max_length=12, description="SMPP bind system_type.")
    smpp_source_addr: str = Field(
        "", max_length=20, description="Sender address (short code or alphanumeric name)."
    )
    smpp_source_ton: int = Field(0, ge=0, le=6, description="TON of the sender address.")
    smpp_source_npi: int = Field(0, ge=0, le=18, description="NPI of the sender address.")
    smpp_timeout_seconds: float = Field(
        10.0, gt=0, le=60, description="Wait for one SMPP response (bind, submit_sm)."
    )
    smpp_receipt_wait_seconds: float = Field(
        2.0, ge=0, le=30, description="How long a receipt collection listens when idle."
    )
    sms_per_number_per_hour: int = Field(
        10, ge=1, description="SMS to one mobile number in any hour; more are deferred."
    )
    email_gateway: Literal["log", "smtp"] = Field(
        "log", description="E-mail gateway: `log` (development console) or `smtp`."
    )
    smtp_host: str = Field("127.0.0.1", description="SMTP relay host.")
    smtp_port: int = Field(25, ge=1, le=65535, description="SMTP relay port.")
    smtp_username: str = Field("", description="SMTP user (empty: no AUTH).")
    smtp_password: str = Field("", description="SMTP password.")
    smtp_security: Literal["none", "starttls", "tls"] = Field(
        "none", description="SMTP transport security: none, STARTTLS, or implicit TLS."
    )
    smtp_timeout_seconds: float = Field(10.0, gt=0, le=60, description="SMTP socket timeout.")
    mail_from: str = Field("puhui@localhost", description="From address of e-mail notifications.")
    notification_max_attempts: int = Field(
        5, ge=1, description="Tries of one message on a failing gateway before it is dead."
    )
    notification_lease_seconds: int = Field(
        120,
        ge=5,
        description="A message being handed to a gateway longer than this is checked again.",
    )
    limit_login_per_username: int = Field(
        10, ge=1, description="Log-in attempts for one username in a login window."
    )
    limit_login_per_ip: int = Field(
        100, ge=1, description="Log-in attempts from one client IP in a login window."
    )
    limit_login_window_seconds: int = Field(
        900, ge=1, description="Length of the log-in rate-limit window."
    )
    limit_sms_codes_per_day: int = Field(
        10, ge=1, description="One-time codes sent to one mobile number per day (UTC)."
    )
    limit_profile_per_user: int = Field(
        300, ge=1, description="Profile and report queries one user or API key makes an hour."
    )
    limit_profile_per_institution: int = Field(
        5000, ge=1, description="Profile and report queries one institution makes an hour."
    )
    limit_export_per_user: int = Field(
        60, ge=1, description="Downloads (CSV, XLSX, PDF) one user or API key makes an hour."
    )
    limit_export_per_institution: int = Field(
        600, ge=1, description="Downloads (CSV, XLSX, PDF) one institution makes an hour."
    )
    second_factor_grace_days: int = Field(
        7,
        ge=0,
        le=90,
        description="Days an institution admin may log in without a second factor after the "
        "account was created (0: enrol at the first log-in).",
    )
    second_factor_reveal_minutes: int = Field(
        15,
        ge=1,
        le=720,
        description="How recent a second-factor check must be to reveal personal values.",
    )
    retention_personal_negative_years: int = Field(
        5,
        ge=1,
        le=5,
        description="Years after a personal negative record ends before it is removed "
        "(the law allows at most 5).",
    )
    retention_enterprise_negative_years: int = Field(
        5, ge=1, le=50, description="Years after an enterprise negative record ends before removal."
    )
    identity_verification_required: bool = Field(
        True,
        description="Enterprise users must verify the legal representative's identity before "
        "granting authorizations, applying for instant loans and filing objections "
        "(false: development only).",
    )
    identity_verification_provider: Literal["manual", "http"] = Field(
        "manual", description="Who verifies legal representatives: operators or an HTTP service."
    )
    identity_verification_http_url: str = Field(
        "", description="Base URL of the HTTP identity-verification service (https)."
    )
    identity_verification_http_secret: str = Field(
        "", description="Shared HMAC-SM3 secret with the HTTP identity-verification service."
    )
    identity_verification_callback_skew_seconds: int = Field(
        300, ge=30, le=3600, description="Largest clock skew accepted on provider callbacks."
    )
    identity_verification_pending_hours: int = Field(
        72, ge=1, le=720, description="Hours an unfinished identity verification stays open."
    )
    identity_document_retention_days: int = Field(
        30, ge=0, le=365, description="Days ID photos are kept after the decision."
    )
    max_body_bytes: int = Field(
        1_048_576, ge=1024, description="Largest request body accepted (413 beyond)."
    )
    max_upload_bytes: int = Field(
        256 * 1_048_576,
        ge=1024,
        description="Largest upload (multipart files, PSI lists) accepted (413 beyond).",
    )
    psi_max_items: int = Field(
        100_000, ge=1, le=1_000_000, description="Items a bank may send in one PSI session."
    )
    psi_max_server_items: int = Field(
        200_000,
        ge=1,
        le=2_000_000,
        description="Entities a PSI filter may match (a broader filter must be narrowed).",
    )
    psi_session_minutes: int = Field(
        15, ge=1, le=1440, description="Minutes a PSI session stays open before it expires."
    )
    psi_sessions_per_hour: int = Field(
        20, ge=1, description="PSI sessions one institution may open in any clock hour."
    )
    psi_which_enabled: bool = Field(
        True,
        description=(
            "Platform policy: institutions granted it may learn which of their items matched "
            "(otherwise PSI answers only how many)."
        ),
    )
    signing_key_file: Path | None = Field(
        None,
        description=(
            "PEM file of the platform's SM2 signing key (audit checkpoints and exports); "
            "empty: DATA_DIR/keys/platform-sm2.pem, generated on first use."
        ),
    )
    master_key: str | None = Field(
        None,
        pattern=r"^[0-9a-fA-F]{32}$",
        description=(
            "SM4 master key (32 hex digits) wrapping the data keys of encrypted fields; "
            "required outside development and tests once a sensitive field is stored."
        ),
    )
    keyring_file: Path | None = Field(
        None,
        description=(
            "Keyring of wrapped data keys; empty: DATA_DIR/keys/data-keys.json, created on "
            "first use."
        ),
    )
    monitoring_quiet_hours: str = Field(
        "22:00-08:00",
        pattern=r"^(\s*|\d{2}:\d{2}-\d{2}:\d{2})$",
        description="Risk-alert SMS wait out these hours (Asia/Shanghai, `HH:MM-HH:MM`; "
        "empty: none); the in-app message is immediate.",
    )
    trusted_proxies: str = Field(
        "",
        description="Addresses or networks (comma-separated) of TLS-terminating proxies whose "
        "client-certificate header (PUHUI_CLIENT_CERT_HEADER) is believed; empty: none.",
    )
    client_cert_header: str = Field(
        "X-Client-Cert",
        pattern=r"^[A-Za-z0-9-]{1,64}$",
        description="Header in which a trusted proxy forwards the verified client certificate "
        "(URL-encoded PEM, nginx's $ssl_client_escaped_cert).",
    )
    log_level: str = Field("INFO", description="Python logging level.")
    log_format: Literal["json", "console"] = Field("json", description="Log line format.")

    @field_validator("monitoring_quiet_hours")
    @classmethod
    def _quiet_hours(cls, value: str) -> str:
        value = value.strip()
        if value:
            start, end = (time.fromisoformat(part) for part in value.split("-"))
            if start == end:
                raise ValueError("quiet hours must not start and end at the same time")
        return value

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.env != "development" and self.secret_key == DEVELOPMENT_SECRET:
            raise ValueError(
                "PUHUI_SECRET_KEY is the development default; set a real secret "
                "(or PUHUI_ENV=development for a local demo)"
            )
        if self.env != "test" and (self.argon2_memory_kib < 19456 or self.argon2_time_cost < 2):
            raise ValueError(
                "Argon2 parameters below the OWASP minimum (19 MiB, 2 passes) are for tests only"
            )
        if self.sms_gateway == "smpp" and not (self.smpp_system_id and self.smpp_source_addr):
            raise ValueError(
                "PUHUI_SMS_GATEWAY=smpp needs PUHUI_SMPP_SYSTEM_ID and PUHUI_SMPP_SOURCE_ADDR"
            )
        slowest = max(self.smpp_timeout_seconds, self.smtp_timeout_seconds)
        if self.notification_lease_seconds < 4 * slowest:
            # a hand-over still running when its lease ends could be taken for a dead one
            raise ValueError(
                "PUHUI_NOTIFICATION_LEASE_SECONDS must be at least 4 times the slowest "
                "gateway timeout (PUHUI_SMPP_TIMEOUT_SECONDS, PUHUI_SMTP_TIMEOUT_SECONDS)"
            )
        if not self.identity_verification_required and self.env == "production":
            raise ValueError("PUHUI_IDENTITY_VERIFICATION_REQUIRED=false is for development only")
        if self.identity_verification_provider == "http":
            url = self.identity_verification_http_url
            local = url.startswith("http://127.0.0.1") and self.env != "production"
            if (
                not (url.startswith("https://") or local)
                or len(self.identity_verification_http_secret) < 32
            ):
                raise ValueError(
                    "PUHUI_IDENTITY_VERIFICATION_PROVIDER=http needs an https "
                    "PUHUI_IDENTITY_VERIFICATION_HTTP_URL and a "
                    "PUHUI_IDENTITY_VERIFICATION_HTTP_SECRET of at least 32 characters"
                )
        if self.trusted_proxies.strip():
            try:
                self.trusted_proxy_networks  # noqa: B018 - parse now, fail at start-up
            except ValueError as exc:
                raise ValueError(f"PUHUI_TRUSTED_PROXIES: {exc}") from exc
        if len(self.secret_key) < 32:
            raise ValueError("PUHUI_SECRET_KEY must be at least 32 characters long")
        return self

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'puhui.db').resolve()}"

    @property
    def signing_key_path(self) -> Path:
        if self.signing_key_file is not None:
            return self.signing_key_file
        return self.data_dir / "keys" / "platform-sm2.pem"

    @property
    def ca_dir(self) -> Path:
        """The platform CA for institutions' client certificates (``puhui ca``)."""
        return self.data_dir / "keys" / "ca"

    @property
    def trusted_proxy_networks(self) -> tuple[IPv4Network | IPv6Network, ...]:
        return tuple(
            ip_network(part.strip(), strict=False)
            for part in self.trusted_proxies.split(",")
            if part.strip()
        )

    @property
    def lake_dir(self) -> Path:
        return self.data_dir / "lake"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    @property
    def run_in_process_worker(self) -> bool:
        if self.in_process_worker is None:
            return self.is_sqlite
        return self.in_process_worker


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
