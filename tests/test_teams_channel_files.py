"""Files shared in a Teams channel: the message carries only the file's SharePoint URL (a `reference`
attachment); facetag asks Microsoft Graph for the file's pre-authenticated download link and fetches
it with no token. Real app, real stack; identity, connector and Graph faked locally."""

from __future__ import annotations

from bot.teams.graph import share_id
from storage.settings import Settings
from tests.fakes.teams import ADA, DriveItem
from tests.support.slack import face_photo
from tests.test_teams_owners import OwnersScenario, owners_scenario
from tests.test_teams_scenarios import faces_of

OBAMA = "face_recognition/examples/knn_examples/train/obama/obama.jpg"
LIBRARY = "https://contoso.sharepoint.com/sites/Photos/Shared%20Documents/General/"


def share_file(
    s: OwnersScenario, name: str, data: bytes, root: str, *, known: bool = True
) -> dict[str, object]:
    """Ada attaches a file in the channel (it goes to the team's SharePoint); the message the bot gets."""
    web_url = LIBRARY + name
    if known:
        download = s.connector.add_download(data, name)
        s.graph.add_drive_item(DriveItem(web_url, download, name, len(data), "image/jpeg"))
    reference = {
        "id": "5e4f3a2b-1c0d-4e9f-8a7b-6c5d4e3f2a1b",
        "contentType": "reference",
        "contentUrl": web_url,
        "name": name,
    }
    return s.factory.channel_mention("from the offsite", user=ADA, attachments=[reference], root=root)


async def test_a_file_shared_in_a_channel_is_fetched_through_graph(settings: Settings) -> None:
    async with owners_scenario(settings) as s:
        message = share_file(s, "obama.jpg", face_photo(OBAMA), "1700000000601")
        assert (await s.post(message)).status == 202
        await s.app.idle()

        [sent] = s.cards(str(message["id"]))
        assert len(faces_of(s.current(sent))) == 1
        [asked] = [r for r in s.graph.log.requests if "/shares/" in r]
        assert asked == f"/v1.0/shares/{share_id(LIBRARY + 'obama.jpg')}/driveItem"
        # The download link is pre-authenticated: no token travels to SharePoint.
        assert s.connector.log.download_headers
        assert all("Authorization" not in h for h in s.connector.log.download_headers)


async def test_channel_files_without_permission_or_gone_get_one_sentence(settings: Settings) -> None:
    async with owners_scenario(settings) as s:
        s.graph.files_refused = True
        refused = share_file(s, "obama.jpg", face_photo(OBAMA), "1700000000602")
        assert (await s.post(refused)).status == 202
        await s.app.idle()
        s.graph.files_refused = False
        gone = share_file(s, "moved.jpg", b"", "1700000000603", known=False)
        assert (await s.post(gone)).status == 202
        await s.app.idle()

        said = {
            str(a.reply_to): str(a.activity.get("text"))
            for a in s.connector.sent
            if a.kind == "reply" and "attachments" not in a.activity
        }
        assert "Files.ReadWrite.All" in said[str(refused["id"])]
        assert "moved or deleted" in said[str(gone["id"])]
        assert not s.connector.log.download_headers  # nothing was downloaded
