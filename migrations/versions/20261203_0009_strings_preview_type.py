"""conversations.last_message_type: preview labels are made at display time

`last_message_preview` held the preview with a Chinese label baked in (`[图片]`,
`[位置] 上海…`); it now holds the last message's own text, and its content type says which
label to show, in the reader's language (app/i18n). Existing rows are split back into type
and text, so they display as before.

Revision ID: 0007strings
Revises: 0007crm
Create Date: 2026-12-03 15:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007strings"
down_revision: str | None = "0007crm"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The labels app/inbox/inbound.py stored until this revision, fixed here as they were.
LABELS = {
    "image": "[图片]",
    "voice": "[语音]",
    "video": "[视频]",
    "file": "[文件]",
    "location": "[位置]",
    "link": "[链接]",
    "unsupported": "[暂不支持的消息]",
}
# These kept the message's text after the label.
LABEL_AND_TEXT = ("voice", "location", "link")


def upgrade() -> None:
    op.add_column(
        "conversations",
        sa.Column("last_message_type", sa.String(20), nullable=False, server_default="text"),
    )
    conversations = sa.table(
        "conversations",
        sa.column("last_message_type", sa.String),
        sa.column("last_message_preview", sa.String),
    )
    preview = conversations.c.last_message_preview
    for content_type, label in LABELS.items():
        op.execute(
            conversations.update()
            .where(preview == label)
            .values(last_message_type=content_type, last_message_preview="")
        )
        if content_type in LABEL_AND_TEXT:
            op.execute(
                conversations.update()
                .where(preview.like(f"{label} %"))
                .values(
                    last_message_type=content_type,
                    last_message_preview=sa.func.substr(preview, len(label) + 2),
                )
            )


def downgrade() -> None:
    conversations = sa.table(
        "conversations",
        sa.column("last_message_type", sa.String),
        sa.column("last_message_preview", sa.String),
    )
    kind, preview = conversations.c.last_message_type, conversations.c.last_message_preview
    for content_type, label in LABELS.items():
        op.execute(
            conversations.update()
            .where(kind == content_type, preview == "")
            .values(last_message_preview=label)
        )
        if content_type in LABEL_AND_TEXT:
            op.execute(
                conversations.update()
                .where(kind == content_type, preview != "")
                .values(last_message_preview=sa.func.substr(label + " " + preview, 1, 200))
            )
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("last_message_type")
