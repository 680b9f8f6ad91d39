"""make run's SMTP sink keeps each message as a file and sends nothing on."""

import smtplib
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default

from infra.local.mail_sink import mail_sink
from infra.local.processes import free_port


def test_each_message_sent_to_the_sink_is_kept_whole_in_its_folder(tmp_path):
    folder = tmp_path / "mail"
    with mail_sink(free_port(), folder) as url:
        host, port = url.removeprefix("smtp://").split(":")
        for number in (1, 2):
            message = EmailMessage()
            message["From"] = "reports@example.org"
            message["To"] = "ana@example.org"
            message["Subject"] = f"Weekly sessions {number}"
            message.set_content("Your report is ready.")
            message.add_attachment(b"a,b\n1,2\n", maintype="text", subtype="csv", filename="x.csv")
            with smtplib.SMTP(host, int(port), timeout=10) as client:
                client.send_message(message)
    kept = sorted(folder.glob("*.eml"))
    assert len(kept) == 2
    assert not list(folder.glob(".*.part"))
    read = [BytesParser(policy=default).parsebytes(path.read_bytes()) for path in kept]
    assert {message["Subject"] for message in read} == {"Weekly sessions 1", "Weekly sessions 2"}
    attachment = next(read[0].iter_attachments())
    assert attachment.get_content() == "a,b\n1,2\n"  # text/csv comes back as text
