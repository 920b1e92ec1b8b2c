"""search index: where each media was seen and its sightings' text, kept on the media row by triggers

`media.seen_in` holds "<platform>:<channel_id>" for every sighting of the media (GIN-indexed: the viewer's
visibility is one `&&` against the keys of the conversations they are in), `media.search_text` the
lower-cased message text and file name of every sighting, one per line (words are matched as substrings
in it, like ILIKE over the sightings). Both are recomputed by statement-level triggers on `sightings`
(insert, update, delete; COPY fires them once per statement), after locking the media rows so concurrent
writers of one media cannot lose each other's sightings. A partial index lists media with a face nobody is
confirmed for (has:unknown).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 02:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Recompute seen_in/search_text of the given media from their sightings (media without sightings: empty).
SYNC_FUNCTION = r"""
CREATE FUNCTION media_search_sync(ids uuid[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF ids IS NULL OR cardinality(ids) = 0 THEN
        RETURN;
    END IF;
    -- lock first: the aggregate below then runs on a snapshot taken after any concurrent writer committed
    PERFORM 1 FROM media WHERE id = ANY (ids) ORDER BY id FOR NO KEY UPDATE;
    UPDATE media AS m
    SET seen_in = s.seen_in, search_text = s.search_text
    FROM (
        SELECT t.id,
               coalesce(a.seen_in, '{}'::text[]) AS seen_in,
               coalesce(a.search_text, '') AS search_text
        FROM unnest(ids) AS t (id)
        LEFT JOIN (
            SELECT media_id,
                   array_agg(DISTINCT platform || ':' || channel_id ORDER BY platform || ':' || channel_id)
                       AS seen_in,
                   lower(string_agg(coalesce(text, '') || E'\n' || coalesce(filename, ''), E'\n'
                                    ORDER BY created_at, id)) AS search_text
            FROM sightings
            WHERE media_id = ANY (ids)
            GROUP BY media_id
        ) AS a ON a.media_id = t.id
    ) AS s
    WHERE m.id = s.id
      AND (m.seen_in IS DISTINCT FROM s.seen_in OR m.search_text IS DISTINCT FROM s.search_text);
END
$$
"""

TRIGGER_FUNCTION = r"""
CREATE FUNCTION sightings_search_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM media_search_sync(ARRAY(
            SELECT DISTINCT media_id FROM new_sightings WHERE media_id IS NOT NULL ORDER BY media_id));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM media_search_sync(ARRAY(
            SELECT DISTINCT media_id FROM old_sightings WHERE media_id IS NOT NULL ORDER BY media_id));
    ELSE
        PERFORM media_search_sync(ARRAY(
            SELECT DISTINCT changed.media_id
            FROM old_sightings AS o
            JOIN new_sightings AS n ON n.id = o.id
            CROSS JOIN LATERAL (VALUES (o.media_id), (n.media_id)) AS changed (media_id)
            WHERE changed.media_id IS NOT NULL
              AND (o.media_id, o.platform, o.channel_id, o.text, o.filename, o.created_at)
                  IS DISTINCT FROM (n.media_id, n.platform, n.channel_id, n.text, n.filename, n.created_at)
            ORDER BY changed.media_id));
    END IF;
    RETURN NULL;
END
$$
"""

TRIGGER_NAME = "sightings_search_sync"
TRIGGERS = {
    "sightings_search_insert": "AFTER INSERT ON sightings REFERENCING NEW TABLE AS new_sightings",
    "sightings_search_update": (
        "AFTER UPDATE ON sightings REFERENCING OLD TABLE AS old_sightings NEW TABLE AS new_sightings"
    ),
    "sightings_search_delete": "AFTER DELETE ON sightings REFERENCING OLD TABLE AS old_sightings",
}


def upgrade() -> None:
    op.add_column(
        "media",
        sa.Column(
            "seen_in", postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'::text[]"), nullable=False
        ),
    )
    op.add_column("media", sa.Column("search_text", sa.Text(), server_default=sa.text("''"), nullable=False))
    op.execute(SYNC_FUNCTION)
    op.execute(TRIGGER_FUNCTION)
    for name, spec in TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {spec} FOR EACH STATEMENT EXECUTE FUNCTION {TRIGGER_NAME}()")
    op.execute(
        "SELECT media_search_sync(ARRAY(SELECT DISTINCT media_id FROM sightings "
        "WHERE media_id IS NOT NULL ORDER BY media_id))"
    )
    op.create_index("ix_media_seen_in", "media", ["seen_in"], unique=False, postgresql_using="gin")
    op.create_index(
        "ix_faces_media_open",
        "faces",
        ["media_id"],
        unique=False,
        postgresql_where=sa.text("state <> 'confirmed'"),
    )


def downgrade() -> None:
    op.drop_index("ix_faces_media_open", table_name="faces", postgresql_where=sa.text("state <> 'confirmed'"))
    op.drop_index("ix_media_seen_in", table_name="media", postgresql_using="gin")
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON sightings")
    op.execute("DROP FUNCTION IF EXISTS sightings_search_sync()")
    op.execute("DROP FUNCTION IF EXISTS media_search_sync(uuid[])")
    op.drop_column("media", "search_text")
    op.drop_column("media", "seen_in")
