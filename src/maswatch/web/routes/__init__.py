"""One router per area: auth (login/logout), api (JSON), pages (HTML)."""
