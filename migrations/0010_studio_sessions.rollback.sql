DROP TABLE studio_sessions;
DROP TABLE studio_login_links;
