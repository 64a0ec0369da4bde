"""The example bot's business: a fitness studio's schedule, bookings, plans and hours.

Domain functions take a connection from `Database.as_user(contact_id)`, so row-level
security decides whose bookings are visible; the acting person is always the
connection's `auth.uid()`, never an argument. Rendering and extraction are pure.

The plugin package of bots/studio/bot.yaml (`plugin: studio.plugin`): it imports the
platform's modules (`bot.…`); the platform never imports it.
"""
