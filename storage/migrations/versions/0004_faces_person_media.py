"""faces by person with their media: ix_faces_person gains media_id, so person terms read the index only

`@alice` and `@alice is:suggested` find the media of the matching people's faces. With ix_faces_person on
(person_id, state) every face was a heap fetch, and one person's faces lie on as many pages as they have
faces (2,800-4,000 page reads for a common first name, 120-180 ms at 100,000 media / 300,000 faces under
load); with media_id in the key it is an index-only scan. The index replaces the old one (same leading
columns, so every query that used it still can).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 04:15:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_faces_person", table_name="faces")
    op.create_index("ix_faces_person", "faces", ["person_id", "state", "media_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_faces_person", table_name="faces")
    op.create_index("ix_faces_person", "faces", ["person_id", "state"], unique=False)
