"""face counters on media: how many faces, how many nobody is confirmed for, kept by triggers on faces

`media.face_count` is the number of faces of the media (has:faces), `media.unknown_faces` the number whose
state is not 'confirmed' (has:unknown): /photos filters on them without an EXISTS over faces per media.
Both are recomputed by statement-level triggers on `faces` (insert, update of media_id or state, delete;
COPY fires them once per statement), after locking the media rows, in the style of 0002's search index.
Deleting a media cascades to its faces; the trigger then finds no media row to update, which is fine.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 03:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Recompute face_count/unknown_faces of the given media from their faces (media without faces: 0).
SYNC_FUNCTION = r"""
CREATE FUNCTION media_faces_sync(ids uuid[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF ids IS NULL OR cardinality(ids) = 0 THEN
        RETURN;
    END IF;
    -- lock first: the counts below then run on a snapshot taken after any concurrent writer committed
    PERFORM 1 FROM media WHERE id = ANY (ids) ORDER BY id FOR NO KEY UPDATE;
    UPDATE media AS m
    SET face_count = s.face_count, unknown_faces = s.unknown_faces
    FROM (
        SELECT t.id,
               coalesce(a.face_count, 0) AS face_count,
               coalesce(a.unknown_faces, 0) AS unknown_faces
        FROM unnest(ids) AS t (id)
        LEFT JOIN (
            SELECT media_id,
                   count(*)::int AS face_count,
                   (count(*) FILTER (WHERE state <> 'confirmed'))::int AS unknown_faces
            FROM faces
            WHERE media_id = ANY (ids)
            GROUP BY media_id
        ) AS a ON a.media_id = t.id
    ) AS s
    WHERE m.id = s.id
      AND (m.face_count, m.unknown_faces) IS DISTINCT FROM (s.face_count, s.unknown_faces);
END
$$
"""

TRIGGER_FUNCTION = r"""
CREATE FUNCTION faces_count_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM media_faces_sync(ARRAY(
            SELECT DISTINCT media_id FROM new_faces WHERE media_id IS NOT NULL ORDER BY media_id));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM media_faces_sync(ARRAY(
            SELECT DISTINCT media_id FROM old_faces WHERE media_id IS NOT NULL ORDER BY media_id));
    ELSE
        PERFORM media_faces_sync(ARRAY(
            SELECT DISTINCT changed.media_id
            FROM old_faces AS o
            JOIN new_faces AS n ON n.id = o.id
            CROSS JOIN LATERAL (VALUES (o.media_id), (n.media_id)) AS changed (media_id)
            WHERE changed.media_id IS NOT NULL
              AND (o.media_id, o.state) IS DISTINCT FROM (n.media_id, n.state)
            ORDER BY changed.media_id));
    END IF;
    RETURN NULL;
END
$$
"""

TRIGGER_NAME = "faces_count_sync"
TRIGGERS = {
    "faces_count_insert": "AFTER INSERT ON faces REFERENCING NEW TABLE AS new_faces",
    "faces_count_update": "AFTER UPDATE ON faces REFERENCING OLD TABLE AS old_faces NEW TABLE AS new_faces",
    "faces_count_delete": "AFTER DELETE ON faces REFERENCING OLD TABLE AS old_faces",
}


def upgrade() -> None:
    op.add_column("media", sa.Column("face_count", sa.Integer(), server_default=sa.text("0"), nullable=False))
    op.add_column(
        "media", sa.Column("unknown_faces", sa.Integer(), server_default=sa.text("0"), nullable=False)
    )
    op.execute(SYNC_FUNCTION)
    op.execute(TRIGGER_FUNCTION)
    for name, spec in TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {spec} FOR EACH STATEMENT EXECUTE FUNCTION {TRIGGER_NAME}()")
    op.execute(
        "SELECT media_faces_sync(ARRAY(SELECT DISTINCT media_id FROM faces "
        "WHERE media_id IS NOT NULL ORDER BY media_id))"
    )


def downgrade() -> None:
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON faces")
    op.execute(f"DROP FUNCTION IF EXISTS {TRIGGER_NAME}()")
    op.execute("DROP FUNCTION IF EXISTS media_faces_sync(uuid[])")
    op.drop_column("media", "unknown_faces")
    op.drop_column("media", "face_count")
