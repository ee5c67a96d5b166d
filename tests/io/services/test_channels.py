"""Alert channels through Apprise, against real HTTP and SMTP servers on 127.0.0.1."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from model_name.errors import ConfigurationError
from model_name.io.services import AlertsService, masked_command
from model_name.io.services.channels import AlertText, mask_url_parts
from model_name.redaction import is_secret_key
from model_name.settings import AlertsSettings
from tests.helpers.http_server import RecordingHTTPServer
from tests.helpers.logs import file_logger, lines
from tests.helpers.servers import free_port
from tests.helpers.smtp_server import SMTP_PASSWORD, SmtpServer

WEBHOOK_TOKEN = "hook-t0ken-4f9a2c7e1b"
JSON_PASSWORD = "json-pa55-9d8e7f"


def alerts(*channels: str, channels_timeout_seconds: float = 5.0) -> AlertsService:
    """An alerts service with the desktop off (alerts also go to the log) and these channels."""
    return AlertsService.model_validate(
        {
            "enable": False,
            "channels": list(channels),
            "channels_timeout_seconds": channels_timeout_seconds,
        }
    )


# --- delivery -------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_json_channel_receives_title_body_and_severity(
    http_server: RecordingHTTPServer,
) -> None:
    # given a json:// channel with credentials, pointed at the recording server
    service = alerts(f"json://model_name:{JSON_PASSWORD}@{http_server.netloc}/alerts")

    # when an alert is sent, with a Markdown body for the channels
    with service:
        service.notify(
            "training failed", AlertText("plain", markdown="**failed**", severity="failure")
        )

    # then the server received one POST with the title, the Markdown body and the failure type
    [request] = http_server.requests
    assert (request.method, request.path) == ("POST", "/alerts")
    payload = request.json()
    assert (payload["title"], payload["message"], payload["type"]) == (
        "training failed",
        "**failed**",
        "failure",
    )
    assert request.headers["authorization"].startswith("Basic ")


@pytest.mark.slow
def test_a_slack_style_webhook_receives_the_alert(http_server: RecordingHTTPServer) -> None:
    # given a Mattermost (Slack-style incoming webhook) channel pointed at the recording server
    service = alerts(f"mmost://{http_server.netloc}/{WEBHOOK_TOKEN}")

    # when an alert is sent, before the service is even started
    service.notify("check succeeded", AlertText("Job check completed.", severity="success"))

    # then the webhook got the Slack-style payload at /hooks/<token>
    [request] = http_server.requests
    assert request.path == f"/hooks/{WEBHOOK_TOKEN}"
    assert "check succeeded" in request.json()["text"]
    assert "Job check completed." in request.json()["text"]
    assert request.json()["username"] == "model_name"  # alerts.app_name


@pytest.mark.slow
def test_an_email_channel_logs_in_and_sends_the_alert(smtp_server: SmtpServer) -> None:
    # given a mailto:// channel to a real SMTP server that requires a login
    service = alerts(smtp_server.mailto())

    # when an alert is sent
    with service:
        service.notify("training succeeded", AlertText("rmse 53.1", markdown="- rmse: **53.1**"))

    # then one mail arrived, with the title as subject, sent after logging in
    [mail] = smtp_server.messages
    assert smtp_server.logins == ["alerts"]
    assert mail["Subject"] == "training succeeded"
    assert mail["To"] == "team@example.org"
    assert "53.1" in mail.get_body(("plain", "html")).get_content()  # type: ignore[union-attr]


# --- never in the way ------------------------------------------------------------------------


@pytest.mark.slow
def test_a_hanging_and_a_refusing_channel_cost_at_most_the_bound_and_are_logged_once(
    tmp_path: Path, http_server: RecordingHTTPServer
) -> None:
    # given a server that never answers, a port where nothing listens, and a 1 s bound
    http_server.mode = "hang"
    closed = free_port()
    service = alerts(
        f"json://{http_server.netloc}/hang",
        f"mmost://127.0.0.1:{closed}/{WEBHOOK_TOKEN}",
        channels_timeout_seconds=1.0,
    )
    log = file_logger(tmp_path, level="DEBUG")

    # when an alert is sent (Apprise imported already, as `check()` does before a job)
    service.check()
    with log, service:
        started = time.monotonic()
        service.notify("check succeeded", "done")
        elapsed = time.monotonic() - started

    # then it returned after the bound (well before Apprise's own 10 s timeouts, on a loaded
    # machine too), and each channel's failure is logged once, with why
    assert 0.9 <= elapsed < 5.0, elapsed
    warnings = [line for line in lines(Path(log.sink)) if line.startswith("WARNING|alerts:")]
    assert warnings == [
        f"WARNING|alerts: channel 0 (json://{http_server.netloc}/hang) failed: "
        "no answer within 1 s",
        f"WARNING|alerts: channel 1 (mmost://127.0.0.1:{closed}/h...b/) failed: "
        "A Connection error occurred sending Mattermost webhook notification to None. "
        "([Errno 111] Connection refused)",
    ]
    assert WEBHOOK_TOKEN not in Path(log.sink).read_text()


@pytest.mark.slow
def test_a_channel_answering_500_is_logged_with_the_status(
    tmp_path: Path, http_server: RecordingHTTPServer
) -> None:
    # given a webhook that answers 500
    http_server.mode = "refuse"
    log = file_logger(tmp_path, level="DEBUG")

    # when an alert is sent
    with log, alerts(f"mmost://{http_server.netloc}/{WEBHOOK_TOKEN}") as service:
        service.notify("title", "message")

    # then the server got it, and the log says the status, never the token
    assert len(http_server.requests) == 1
    text = Path(log.sink).read_text()
    assert (
        "failed: Failed to send Mattermost notification to channel None: Internal server error., error=500."
        in text
    )
    assert WEBHOOK_TOKEN not in text


# --- malformed URLs and masking ------------------------------------------------------------


def test_a_url_apprise_cannot_use_is_a_configuration_error_naming_its_index() -> None:
    # given a second channel of an unknown service, with a secret in it
    service = alerts("json://127.0.0.1:9/x", "nosuchservice://user:t0p-s3cret@host")

    # when the service is checked
    with pytest.raises(ConfigurationError) as raised:
        service.check()

    # then the error names the key and index and the scheme, never the URL
    message = str(raised.value)
    assert message.startswith("alerts.channels[1]: Apprise cannot use this nosuchservice:// URL")
    assert "t0p-s3cret" not in message


def test_a_url_without_a_scheme_is_refused_by_the_settings_without_quoting_it() -> None:
    with pytest.raises(ValueError, match="not a notification URL") as raised:
        AlertsSettings.model_validate({"channels": ["json://ok/x", "t0p-s3cret-no-scheme"]})
    assert "t0p-s3cret" not in str(raised.value)


def test_channels_from_a_flag_or_the_environment_are_separated_by_blanks() -> None:
    settings = AlertsSettings.model_validate({"channels": "json://a/1  mmost://b/2\n"})
    assert [url.get_secret_value() for url in settings.channels] == ["json://a/1", "mmost://b/2"]
    assert str(settings.channels[0]) == "**********"


def test_alerts_channels_is_a_secret_key_though_its_name_does_not_say_so() -> None:
    assert is_secret_key("alerts.channels") and is_secret_key(("alerts", "channels"))
    assert not is_secret_key("jobs.training.channels")
    assert masked_command(["model_name", "--set", "alerts.channels=json://h/t0ken"]) == [
        "model_name",
        "--set",
        "alerts.channels=**********",
    ]


def test_mask_url_parts_masks_what_the_privacy_form_hides() -> None:
    url = f"mailto://alerts:{SMTP_PASSWORD}@127.0.0.1:2525?to=team@example.org"
    text = f"login as alerts with {SMTP_PASSWORD} to 127.0.0.1 failed"
    shown = "mailto://alerts:****@127.0.0.1:2525/team%40example.org"
    assert mask_url_parts(text, url, shown) == "login as alerts with ********** to 127.0.0.1 failed"
