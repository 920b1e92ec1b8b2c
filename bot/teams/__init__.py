"""The Microsoft Teams door (Microsoft 365 Agents SDK on aiohttp).

Wiring, for bot/app.py:

    config = TeamsAuthConfig.from_settings(settings)            # bot.teams.config
    adapter = build_teams_adapter(config)                       # bot.teams.adapter
    validator = BotFrameworkTokenValidator(config)              # bot.teams.auth
    app.router.add_post("/api/messages", messages_route(adapter, agent, validator))

This package module imports nothing so that `bot.teams.package` stays cheap to import.
"""
