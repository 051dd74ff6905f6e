DROP TABLE console_links;
DROP TABLE console_sessions;
