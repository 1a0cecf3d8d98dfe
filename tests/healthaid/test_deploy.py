"""Production settings: `manage.py check --deploy` is clean, the development secret key is
refused, and no secret is committed to the repository."""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _manage(*args, **env):
    base = {key: value for key, value in os.environ.items() if key not in ("SECRET_KEY", "DEBUG")}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_check_deploy_is_clean_under_production_settings():
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        PRODUCTION="1",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="healthaid.example.cn",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_the_development_secret_key():
    result = _manage("check", PRODUCTION="1")
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


# Shapes of real credentials: private keys, cloud keys, passwords in connection URLs.
SECRET_SHAPES = [
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"AKIA[0-9A-Z]{16}"),
    # a password in a URL, unless it is a placeholder (PASSWORD) or a ${VARIABLE} from the environment
    re.compile(r"(postgres|postgresql|redis|amqp)://[^/\s:@]+:(?!PASSWORD@|\$\{)[^@\s/]+@"),
]


def test_no_secrets_in_the_repository():
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True)
    files = (
        [name for name in listed.stdout.split("\0") if name]
        if listed.returncode == 0
        else [
            str(path.relative_to(ROOT))
            for path in ROOT.rglob("*")
            if path.is_file() and ".venv" not in path.parts and ".git" not in path.parts
        ]
    )
    assert files
    found = []
    for name in files:
        path = ROOT / name
        if path.suffix in {".woff", ".woff2", ".png", ".xlsx", ".ico"} or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="ignore")
        found += [f"{name}: {shape.pattern}" for shape in SECRET_SHAPES if shape.search(text)]
    assert not found, found


def _compose():
    import yaml

    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))["services"]


def _redirects_to_https(service) -> bool:
    value = str(service.get("environment", {}).get("SECURE_SSL_REDIRECT", "1"))
    # "${SECURE_SSL_REDIRECT:-1}": the default after ":-" is what runs when the variable is unset.
    value = value.rsplit(":-", 1)[-1].rstrip("}") if value.startswith("${") else value
    return value.lower() in ("1", "true", "yes", "on")


def test_compose_redirects_to_https_only_behind_a_tls_proxy():
    """SECURE_SSL_REDIRECT on a plain-HTTP port would redirect every request to an HTTPS nobody
    serves: the app is reached only through Caddy, which terminates TLS on 443."""
    services = _compose()
    assert _redirects_to_https(services["web"])
    assert "ports" not in services["web"], "web must not be published to the host beside the proxy"
    proxy = services["caddy"]
    assert proxy["image"].startswith("caddy:2")
    assert {str(port).split(":")[-1].split("/")[0] for port in proxy["ports"]} >= {"80", "443"}
    assert "./Caddyfile:/etc/caddy/Caddyfile:ro" in proxy["volumes"]
    caddyfile = (ROOT / "Caddyfile").read_text(encoding="utf-8")
    assert "{$SITE_DOMAIN}" in caddyfile
    assert re.search(r"^\s*reverse_proxy web:8000\s*$", caddyfile, re.MULTILINE)
    published = [name for name, service in services.items() if "ports" in service]
    assert published == ["caddy"], published


def test_compose_beat_keeps_its_schedule_on_a_volume():
    beat = _compose()["beat"]
    assert "-s /data/celerybeat-schedule" in beat["command"]
    assert any(str(volume).endswith(":/data") for volume in beat["volumes"])


def test_dockerignore_keeps_local_state_out_of_the_image():
    ignored = {
        line.strip().rstrip("/")
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".venv", "db.sqlite3", "media", ".git", "artifacts", "staticfiles", ".env"} <= ignored
