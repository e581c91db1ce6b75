"""The console (staff) and the member portal: server-rendered pages over the services.

Pages read through the same owner filter as the API (services/access.py) and change rows
through the same services, so a page can never show or do more than the API would for
the same user. Browser logins are server-side sessions (services/web_sessions.py) in a
Secure, HttpOnly, SameSite=Lax cookie; every form and htmx request carries the session's
CSRF token. Essential flows are plain forms and links: htmx and the charts only add.
"""
